"""TFTP fetched by real clients (tftp-hpa, curl): bootloaders, per-MAC configs from the
boot decision, and everything that must be refused."""

from __future__ import annotations

import filecmp
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from baremetal.boot import BootTarget, decide, render_grub, render_ipxe, render_pxelinux
from baremetal.models import NodeStatus
from baremetal.rack.tftp import BOOTLOADERS, BootFiles, TftpService, install_bootloaders

from .live import free_port

KNOWN = {"52:54:00:12:34:56": BootTarget(mac="52:54:00:12:34:56", status=NodeStatus.COMMISSIONING,
                                         system_id="abc123", token="machine-token")}
RENDER = {"pxelinux": render_pxelinux, "grub": render_grub, "ipxe": render_ipxe}


def configs(mac, loader, client=None):  # type: ignore[no-untyped-def]
    target = KNOWN.get(mac) or BootTarget(mac=mac or "00:00:00:00:00:00")
    decision = decide(target, http_base="http://127.0.0.1:5248",
                      metadata_url="http://127.0.0.1:5240/MAAS/metadata/",
                      enlistment_token="enlist-token")
    return RENDER[loader](decision)


@pytest.fixture(scope="module")
def tftp(tmp_path_factory):
    root = tmp_path_factory.mktemp("boot")
    installed = install_bootloaders(root)
    assert set(installed) == set(BOOTLOADERS), "Debian's ipxe/pxelinux/syslinux-common"
    (root / "secret.txt").write_text("not a boot file")
    outside = tmp_path_factory.mktemp("outside") / "shadow.c32"
    outside.write_text("outside the root")
    os.symlink(outside, root / "escape.c32")
    service = TftpService(BootFiles(root, configs), "127.0.0.1", free_port()).start()
    yield root, service.port
    service.stop()


def tftp_hpa(port: int, remote: str, local: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["tftp", "-m", "binary", "127.0.0.1", str(port), "-c", "get", remote,
                           str(local)], capture_output=True, text=True, timeout=60)


def curl(port: int, remote: str, local: Path, blksize: int | None = None):  # type: ignore[no-untyped-def]
    command = ["curl", "-sS", "-o", str(local), f"tftp://127.0.0.1:{port}/{remote}"]
    if blksize:
        command[1:1] = ["--tftp-blksize", str(blksize)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(BOOTLOADERS))
def test_bootloaders_with_tftp_hpa(tftp, tmp_path, name):
    root, port = tftp
    done = tftp_hpa(port, name, tmp_path / name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert filecmp.cmp(tmp_path / name, BOOTLOADERS[name], shallow=False)


def test_blksize_and_tsize_with_curl(tftp, tmp_path):
    _, port = tftp
    for blksize in (512, 1468):
        done = curl(port, "ipxe.efi", tmp_path / "ipxe.efi", blksize)  # curl asks tsize too
        assert done.returncode == 0, done.stderr
        assert filecmp.cmp(tmp_path / "ipxe.efi", BOOTLOADERS["ipxe.efi"], shallow=False)


@pytest.mark.parametrize(("remote", "loader", "mac"), [
    ("pxelinux.cfg/01-52-54-00-12-34-56", "pxelinux", "52:54:00:12:34:56"),
    ("grub/grub.cfg-52:54:00:12:34:56", "grub", "52:54:00:12:34:56"),
    ("ipxe/mac-52-54-00-12-34-56.ipxe", "ipxe", "52:54:00:12:34:56"),
    ("pxelinux.cfg/01-52-54-00-99-99-99", "pxelinux", "52:54:00:99:99:99"),
    ("pxelinux.cfg/default", "pxelinux", None),
])
def test_per_mac_configs_follow_the_boot_decision(tftp, tmp_path, remote, loader, mac):
    _, port = tftp
    # tftp-hpa reads `a:b` as host:file, so names with colons go through curl.
    client = curl if ":" in remote else tftp_hpa
    done = client(port, remote, tmp_path / "config")
    assert done.returncode == 0, done.stdout + done.stderr
    text = (tmp_path / "config").read_text()
    assert text == configs(mac, loader)
    if mac in KNOWN:
        assert "baremetal.purpose=commission" in text and "machine-token" in text
    else:
        assert "baremetal.purpose=enlist" in text and "enlist-token" in text


@pytest.mark.parametrize("remote", [
    "../../../etc/passwd", "/etc/passwd", "pxelinux.cfg/../../etc/passwd",
    "secret.txt", "escape.c32", "pxelinux.cfg/01-zz", "nonexistent.c32", "grub/../secret.txt",
])
def test_refused_paths(tftp, tmp_path, remote):
    _, port = tftp
    local = tmp_path / "got"
    done = tftp_hpa(port, remote, local)
    assert not local.exists() or local.stat().st_size == 0, (remote, done.stdout)


def test_uploads_are_refused(tftp, tmp_path):
    root, port = tftp
    payload = tmp_path / "evil.c32"
    payload.write_text("overwrite")
    subprocess.run(["tftp", "-m", "binary", "127.0.0.1", str(port), "-c", "put", str(payload),
                    "evil.c32"], capture_output=True, timeout=60)
    assert not (root / "evil.c32").exists()
    assert list(Path(root).glob("**/evil.c32")) == []


def test_twenty_concurrent_clients(tftp, tmp_path):
    _, port = tftp

    def fetch(n: int) -> bool:
        local = tmp_path / f"undionly-{n}"
        return tftp_hpa(port, "undionly.kpxe", local).returncode == 0 and filecmp.cmp(
            local, BOOTLOADERS["undionly.kpxe"], shallow=False)

    with ThreadPoolExecutor(20) as pool:
        assert all(pool.map(fetch, range(20)))
    # And the server still answers afterwards.
    assert tftp_hpa(port, "ldlinux.c32", tmp_path / "after").returncode == 0


def test_the_ipxe_chain_script(tftp, tmp_path):
    _, port = tftp
    assert tftp_hpa(port, "ipxe/boot.ipxe", tmp_path / "chain").returncode == 0
    assert "chain tftp://${next-server}/ipxe/mac-${net0/mac:hexhyp}.ipxe" in (
        tmp_path / "chain").read_text()
