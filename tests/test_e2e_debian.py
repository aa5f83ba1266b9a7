"""The real OS as the commissioning environment, end to end (`tox -e e2e`; CI runs it).

The Debian image is built once per machine with `baremetal images build --os
debian/bookworm` (debootstrap from the machine's apt mirror; cached outside the repo by its
inputs, so a second build is a cache hit). A simplestreams mirror is written from it and
signed with a throwaway GnuPG key; the region imports it through python-libmaas's boot
source calls. A qemu VM then PXE boots Debian's kernel and initrd from the rack, live-boot
fetches the squashfs over HTTP with an overlay in RAM, systemd starts, cloud-init reads the
preseed and the region's metadata API (OAuth) and runs the commissioning program; the VM is
Ready with its real CPUs, memory, disk and NIC.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from baremetal.images.debian import BuildInputs, build, default_cache

from .live import BAREMETAL, start_region, stop_region
from .mirror import Signer, write_mirror
from .qemu_net import (
    Vm,
    api,
    check_inventory,
    commission,
    record_timings,
    serve_dhcp,
    start_rack,
    vm_network,
    wait_for,
)

pytestmark = pytest.mark.e2e
MAC = "52:54:00:e2:e0:02"
HOST_ADDRESS = "10.254.8.1"


@pytest.fixture(scope="module")
def debian_image(tmp_path_factory):
    """`baremetal images build --os debian/bookworm` (cold once per machine, then cached)."""
    directory = tmp_path_factory.mktemp("build")
    started = time.monotonic()
    done = subprocess.run(
        [str(BAREMETAL), "images", "build", "--os", "debian/bookworm", "--database-url",
         f"sqlite:///{directory / 'build.db'}"], capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    took = time.monotonic() - started
    assert "debian/bookworm amd64/generic" in done.stdout
    # Progress went to the terminal: every step, and byte counts.
    if "(cached build)" not in done.stdout:
        for step in ("bootstrap", "packages", "initramfs", "squashfs"):
            assert f"{step}:" in done.stderr, done.stderr[-2000:]
    started = time.monotonic()
    image = build(BuildInputs())  # the same inputs again: the cache
    cached = time.monotonic() - started
    assert image.cached and cached < 1.0, cached
    record_timings(build_s=round(took, 1), cached_build_s=round(cached, 3),
            sizes={f.filetype: f.size for f in image.files})
    return image


@pytest.fixture(scope="module")
def network():
    with vm_network(HOST_ADDRESS) as ns:
        yield ns


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _serve(directory: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _libmaas(region):  # type: ignore[no-untyped-def]
    from maas.client import connect

    asyncio.set_event_loop(asyncio.new_event_loop())
    return connect(region.url, apikey=region.admin_key)


def test_a_vm_is_commissioned_in_the_debian_environment(debian_image, network, tmp_path):
    mirror = tmp_path / "mirror"
    signer = Signer.create(tmp_path / "gnupg")
    by_type = {f.filetype: f.path for f in debian_image.files}
    write_mirror(mirror, "bookworm", "20261202", by_type, signer)
    server = _serve(mirror)
    region = start_region(tmp_path, command="region")
    rack = start_rack(region, tmp_path, HOST_ADDRESS)
    vm = None
    try:
        client = _libmaas(region)
        source = client.boot_sources.create(
            f"http://127.0.0.1:{server.server_port}/", keyring_data=io.BytesIO(signer.keyring()))
        # (the facade has no selections: the viscera object python-libmaas builds has them)
        client._origin.BootSourceSelections.create(source, "debian", "bookworm",
                                                   arches=["amd64"])
        started = time.monotonic()
        assert client.boot_resources.start_import() == b"Import of boot resources started"
        wait_for(lambda: not api(region, "GET", "boot-resources/?op=is_importing"), 300,
                 "the import")
        imported = time.monotonic() - started
        [activity] = [a for a in api(region, "GET", "boot-resources/?op=activity")
                      if a["name"] == "import"]
        assert activity["state"] == "done", activity
        [synced] = [r for r in client.boot_resources.list() if r.name == "debian/bookworm"]
        assert synced.type == "Synced" and synced.architecture == "amd64/generic"
        detail = client.boot_resources.get(synced.id)
        [version] = detail.sets.values()
        assert version.complete and {f.filetype for f in version.files.values()} == {
            "boot-kernel", "boot-initrd", "squashfs"}

        serve_dhcp(region, tmp_path, HOST_ADDRESS)
        squashfs = tmp_path / "rack/images/amd64/debian/bookworm/root.squashfs"
        wait_for(lambda: squashfs.exists(), 180, "the rack to sync the Debian image")
        vm = Vm(region, tmp_path, MAC, network, memory_mib=1536)
        ready, to_ready = commission(region, vm, 600, "commissioning in the Debian "
                                     "environment", skip_bmc_config="1", testing_scripts="none")
        check_inventory(ready, MAC, 1536, HOST_ADDRESS)
        console = vm.console.read_text(errors="replace")
        assert "Debian GNU/Linux 12 (bookworm)" in console  # systemd's greeting
        assert "Cloud-init v. 22.4.2 running 'modules:final'" in console
        assert "baremetal: commission via" in console  # the user data it ran
        # cloud-init reported each stage through the status webhook, with its credentials.
        hooks = region.log().count(f'/MAAS/metadata/status/{vm.system_id} HTTP/1.1" 204')
        assert hooks >= 10, hooks
        wait_for(lambda: vm.bmc.process is None, 120, "the environment to power the VM off",
                 vm.console)
        record_timings(import_s=round(imported, 1), debian_commission_to_ready_s=round(to_ready, 1))
        print(f"\nDebian environment (TCG): import {imported:.1f} s; commission to Ready "
              f"{to_ready:.1f} s", file=sys.stderr)
    finally:
        if vm is not None:
            vm.close()
        rack.terminate()
        rack.wait(timeout=30)
        stop_region(region)
        server.shutdown()


def test_the_build_cache_is_keyed_by_inputs():
    inputs = BuildInputs(mirror="http://deb.example/debian")
    assert inputs.key != BuildInputs(mirror="http://other.example/debian").key
    assert inputs.key != BuildInputs(mirror="http://deb.example/debian",
                                     packages=(*inputs.packages, "vim")).key
    assert inputs.key == BuildInputs(mirror="http://deb.example/debian").key
    assert default_cache().is_absolute()


def test_up_builds_the_default_image_in_the_background_on_first_start(debian_image, tmp_path):
    """As MAAS imports on first start: `up` answers at once and builds debian/bookworm in a
    child (a cache hit here, the module's build having filled the cache); `images list`
    shows it ready; commissioning and deploys then have it."""
    from .live import wait_until

    region = start_region(tmp_path, build_os_image=True)
    try:
        def built():  # type: ignore[no-untyped-def]
            work = [a for a in api(region, "GET", "boot-resources/?op=activity")
                    if a["name"] == "build:debian/bookworm"]
            return work and work[0]["state"] in ("done", "failed") and work[0]
        outcome = wait_until(built, 300, "the background build", region.log)
        assert outcome["state"] == "done", outcome
        resources = {r["name"]: r for r in api(region, "GET", "boot-resources/")}
        assert resources["debian/bookworm"]["type"] == "Generated"
        env = {**os.environ, "BAREMETAL_CONFIG_DIR": str(tmp_path / "config")}
        login = subprocess.run([str(BAREMETAL), "login", "e2e", region.url, region.admin_key],
                               capture_output=True, text=True, timeout=60, env=env)
        assert login.returncode == 0, login.stderr
        listing = subprocess.run([str(BAREMETAL), "images", "list"], capture_output=True,
                                 text=True, timeout=60, env=env)
        assert listing.returncode == 0, listing.stderr
        [line] = [x for x in listing.stdout.splitlines() if "debian/bookworm" in x]
        assert "Generated" in line and "ready" in line and "MiB" in line
        assert "no debian/bookworm image yet; building it in the background" in region.log()
    finally:
        stop_region(region)
