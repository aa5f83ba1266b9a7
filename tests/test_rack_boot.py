"""The rack's boot chain against a live region: per-MAC configs over TFTP (curl, tftp-hpa)
and HTTP come from the region's boot decision; images are synced from the region, checked
against their sha256 and served over HTTP with range requests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from baremetal.children import die_with_parent
from baremetal.images.library import store_busybox
from baremetal.models import NodeStatus
from baremetal.rack.agent import RegionClient
from baremetal.rack.boot import ImageCache
from baremetal.store.boot import enlistment_token, machine_token
from baremetal.store.machines import NewInterface, NewMachine, get_machine, set_status

from .conftest import add_ready
from .live import (
    BAREMETAL,
    free_port,
    http_status,
    start_region,
    stop_region,
    wait_for_http,
    wait_until,
)
from .test_rack_agent import _secret

MAC = "52:54:00:aa:bb:01"
KERNEL = os.urandom(3 << 20)
INITRD = os.urandom(1 << 20)


@pytest.fixture(scope="module")
def booting(tmp_path_factory):
    """A region with an image and a commissioning machine, and a rack serving boot."""
    directory = tmp_path_factory.mktemp("rackboot")
    region = start_region(directory, command="region")
    store_busybox(region.store, "amd64/generic", KERNEL, INITRD, "test")
    [system_id] = add_ready(region.store, [NewMachine(
        hostname="pxe1", interfaces=[NewInterface(name="eth0", mac_address=MAC)])])
    with region.store.write() as conn:
        set_status(conn, system_id, NodeStatus.COMMISSIONING)
    tftp_port, http_port = free_port("udp"), free_port()
    rack = subprocess.Popen(
        [str(BAREMETAL), "rack", "--region-url", region.url.removesuffix("/MAAS/"),
         "--name", "rack-boot", "--no-power", "--no-dhcp", "--boot-dir",
         str(directory / "rack"), "--listen", "127.0.0.1", "--tftp-port", str(tftp_port),
         "--http-port", str(http_port)],
        env={**os.environ, "BAREMETAL_RACK_SECRET": _secret(region)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent)
    http = f"http://127.0.0.1:{http_port}"
    try:
        wait_for_http(f"{http}/undionly.kpxe", rack)
        wait_until(lambda: http_status(f"{http}/images/amd64/ephemeral/initrd") == 200, 30,
              "the rack to sync the image")
        yield region, system_id, tftp_port, http, directory
    finally:
        rack.terminate()
        rack.wait(timeout=30)
        stop_region(region)


def _get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def _curl_tftp(port: int, name: str) -> bytes:
    done = subprocess.run(["curl", "-sf", "--max-time", "20", f"tftp://127.0.0.1:{port}/{name}"],
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_per_mac_config_over_tftp_is_the_regions_decision(booting):
    region, system_id, tftp_port, http, _ = booting
    text = _curl_tftp(tftp_port, f"ipxe/mac-{MAC.replace(':', '-')}.ipxe").decode()
    with region.store.write() as conn:
        machine_id = conn.exec_driver_sql(
            "SELECT id FROM machines WHERE system_id = ?", (system_id,)).scalar()
        token = machine_token(conn, machine_id)
    assert text.startswith("#!ipxe")
    assert f"kernel {http}/images/amd64/ephemeral/vmlinuz " in text
    assert f"initrd {http}/images/amd64/ephemeral/initrd" in text
    assert "baremetal.purpose=commission" in text
    assert f"baremetal.url={http}/MAAS/metadata/" in text
    assert f"baremetal.token={token}" in text and f"baremetal.system_id={system_id}" in text
    assert region.admin_key.split(":")[2] not in text  # never a user's key
    # The same file over HTTP, and PXELINUX's and GRUB's views of the same decision.
    assert _get(f"{http}/ipxe/mac-{MAC.replace(':', '-')}.ipxe")[1].decode() == text
    pxelinux = _curl_tftp(tftp_port, f"pxelinux.cfg/01-{MAC.replace(':', '-')}").decode()
    assert f"APPEND ip=dhcp BOOTIF=01-{MAC.replace(':', '-')}" in pxelinux
    assert "baremetal.purpose=commission" in pxelinux


def test_an_unknown_mac_gets_the_enlistment_config(booting):
    region, _, tftp_port, _, _ = booting
    text = _curl_tftp(tftp_port, "pxelinux.cfg/01-52-54-00-99-99-99").decode()
    with region.store.write() as conn:
        token = enlistment_token(conn)
    assert "baremetal.purpose=enlist" in text and f"baremetal.token={token}" in text
    assert "baremetal.system_id" not in text


def test_the_config_follows_the_machine_state(booting):
    region, system_id, tftp_port, _, _ = booting
    name = f"grub/grub.cfg-{MAC}"
    assert "commission" in _curl_tftp(tftp_port, name).decode()
    with region.store.write() as conn:
        set_status(conn, system_id, NodeStatus.READY)
    try:
        assert "'poweroff'" in _curl_tftp(tftp_port, name).decode()
    finally:
        with region.store.write() as conn:
            set_status(conn, system_id, NodeStatus.COMMISSIONING)


def test_bootloaders_over_tftp_with_tftp_hpa_blksize_and_tsize(booting, tmp_path):
    _, _, tftp_port, _, directory = booting
    target = tmp_path / "undionly.kpxe"
    done = subprocess.run(
        ["tftp", "-m", "binary", "127.0.0.1", str(tftp_port), "-c", "get", "undionly.kpxe",
         str(target)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "Error" not in done.stdout + done.stderr
    assert target.read_bytes() == (directory / "rack" / "boot" / "undionly.kpxe").read_bytes()
    big = subprocess.run(["curl", "-sf", "--tftp-blksize", "1428", "--max-time", "20",
                          f"tftp://127.0.0.1:{tftp_port}/undionly.kpxe"],
                         capture_output=True, timeout=30)
    assert big.returncode == 0 and big.stdout == target.read_bytes()


def test_images_are_synced_checked_and_served_with_ranges(booting):
    _, _, _, http, directory = booting
    status, body = _get(f"{http}/images/amd64/ephemeral/vmlinuz")
    assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(KERNEL).digest()
    status, part = _get(f"{http}/images/amd64/ephemeral/initrd", Range="bytes=1000-1999")
    assert status == 206 and part == INITRD[1000:2000]
    status, tail = _get(f"{http}/images/amd64/ephemeral/initrd", Range="bytes=-100")
    assert status == 206 and tail == INITRD[-100:]
    assert http_status(f"{http}/images/amd64/ephemeral/nothing") == 404
    assert http_status(f"{http}/images/amd64/..%2f..%2fdhcp/dnsmasq.conf") == 404
    assert (directory / "rack" / "images" / "amd64" / "ephemeral" / "vmlinuz").read_bytes() \
        == KERNEL


def test_an_image_whose_checksum_does_not_match_is_not_installed(booting, tmp_path):
    region, _, _, _, _ = booting
    client = RegionClient(region.url.removesuffix("/MAAS/"), _secret(region))
    listed = client.post("/config", {"system_id": "nobody"})["images"]
    cache = ImageCache(tmp_path / "images", client)
    tampered = [{**image, "sha256": "0" * 64} for image in listed
                if image["name"] == "ephemeral"]
    problems = cache.sync(tampered)
    assert len(problems) == 2 and all("checksum mismatch" in p for p in problems)
    assert not any(path.is_file() for path in (tmp_path / "images").rglob("*"))
    assert cache.sync(listed) == []
    vmlinuz = cache.path("amd64/generic", "ephemeral", "vmlinuz")
    [kernel] = [image for image in listed if image["filename"] == "vmlinuz"]
    assert vmlinuz.read_bytes() == KERNEL and cache.checksum(vmlinuz) == kernel["sha256"]


def test_tftp_refuses_paths_outside_the_boot_files(booting):
    _, _, tftp_port, _, _ = booting
    for name in ("../dhcp/dnsmasq.conf", "images/amd64/ephemeral/vmlinuz", "/etc/passwd"):
        done = subprocess.run(["tftp", "127.0.0.1", str(tftp_port), "-c", "get", name,
                               "/dev/null"], capture_output=True, text=True, timeout=30)
        assert "Error code" in done.stdout + done.stderr, name  # 1: not found, 4: illegal


def test_the_machine_record_is_untouched_by_booting(booting):
    region, system_id, tftp_port, _, _ = booting
    _curl_tftp(tftp_port, f"ipxe/mac-{MAC.replace(':', '-')}.ipxe")
    time.sleep(0.1)
    with region.store.read() as conn:
        assert get_machine(conn, system_id).status is NodeStatus.COMMISSIONING
