"""A real VM from power-on to deployed and back (`tox -e e2e`; CI runs it too).

The test builds the network: a namespace with a bridge, the VM's tap on it, and a veth
whose other end (10.254.9.1, made by the test) is where the rack serves. The region has
the subnet with a dynamic range and DHCP on, so the rack renders dnsmasq for it. The VM is
qemu under TCG with an e1000 NIC (iPXE ROM) and a virtio disk; its power is a virtual BMC
driven over IPMI by the rack's power worker. iPXE gets DHCP from our dnsmasq, its script
and per-MAC config from our TFTP, the kernel and initrd over HTTP; the image commissions
the VM from its real /proc and /sys through the metadata API, forwarded by the rack.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from baremetal.sim.bmc import serve_forever
from baremetal.sim.qemu import QemuBmc, VmSpec
from baremetal.store.racks import rack_secret

from .api import oauth_header
from .live import BAREMETAL, start_region, stop_region, store_image, wait_until

pytestmark = pytest.mark.e2e
MAC = "52:54:00:e2:e0:01"
HOST_ADDRESS = "10.254.9.1"
TIMINGS = Path(os.environ.get("BAREMETAL_E2E_TIMINGS", "/tmp/baremetal-e2e-timings.json"))


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def network():
    suffix = f"{os.getpid() % 10000}"
    ns, host, peer = f"bme{suffix}", f"bmeh{suffix}", f"bmen{suffix}"
    ip("netns", "add", ns)
    try:
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "add", "br0", "type", "bridge")
        ip("-n", ns, "link", "set", "br0", "up")
        ip("-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap")
        ip("-n", ns, "link", "set", "tap0", "master", "br0", "up")
        ip("link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns)
        ip("-n", ns, "link", "set", peer, "master", "br0", "up")
        ip("addr", "add", f"{HOST_ADDRESS}/24", "dev", host)
        ip("-6", "addr", "add", "fd77:9::1/64", "dev", host, "nodad")  # for iPXE's RA
        ip("link", "set", host, "up")
        yield ns
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def api(region, method: str, path: str, data: dict | None = None):  # type: ignore[no-untyped-def]
    body = urllib.parse.urlencode(data or {}).encode() if method != "GET" else None
    request = urllib.request.Request(region.api + path, method=method, data=body, headers={
        "Authorization": oauth_header(region.admin_key)})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def wait_for(predicate, timeout: float, what: str, console: Path | None = None):  # type: ignore[no-untyped-def]
    """wait_until, showing the end of the VM's console when it times out."""
    return wait_until(predicate, timeout, what, lambda: "--- console ---\n" + (
        console.read_text(errors="replace")[-3000:] if console and console.exists() else ""))


def test_a_qemu_vm_is_commissioned_deployed_and_released(network, tmp_path):
    region = start_region(tmp_path, command="region")
    store_image(region.store)
    with region.store.write() as conn:
        secret = rack_secret(conn)
    rack = subprocess.Popen(
        [str(BAREMETAL), "rack", "--region-url", region.url.removesuffix("/MAAS/"),
         "--name", "e2e-rack", "--boot-dir", str(tmp_path / "rack"), "--listen", HOST_ADDRESS,
         "--tftp-port", "69", "--http-port", "5248", "--poll-interval", "5"],
        env={**os.environ, "BAREMETAL_RACK_SECRET": secret},
        stdout=(tmp_path / "rack.log").open("wb"), stderr=subprocess.STDOUT)
    disk = tmp_path / "disk.img"
    with disk.open("wb") as handle:
        handle.truncate(2 << 30)
    console = tmp_path / "console.log"
    bmc = QemuBmc(VmSpec(MAC, "tap0", disk, cpus=2, memory_mib=1024, netns=network,
                         console=console), "admin", "vm-bmc-password")
    import threading

    stop = threading.Event()
    threading.Thread(target=serve_forever, args=(stop,), daemon=True).start()
    try:
        [rack_id] = wait_for(lambda: [r["system_id"] for r in api(
            region, "GET", "rackcontrollers/") if r["status"] == "up"], 60, "the rack")
        subnet = api(region, "POST", "subnets/", {"cidr": "10.254.9.0/24"})
        api(region, "POST", "ipranges/", {"type": "dynamic", "start_ip": "10.254.9.100",
                                          "end_ip": "10.254.9.150", "subnet": subnet["id"]})
        api(region, "PUT", f"vlans/{subnet['vlan']['id']}/",
            {"dhcp_on": "true", "primary_rack": rack_id})
        wait_for(lambda: (tmp_path / "rack/dhcp/dnsmasq.conf").exists(), 60,
                 "the rack to start DHCP")
        machine = api(region, "POST", "machines/", {
            "hostname": "vm1", "architecture": "amd64/generic", "mac_addresses": MAC,
            "power_type": "ipmi", "power_parameters_power_address": f"127.0.0.1:{bmc.port}",
            "power_parameters_power_user": "admin",
            "power_parameters_power_pass": "vm-bmc-password"})
        system_id = machine["system_id"]
        if machine["status_name"] != "New":
            wait_for(lambda: api(region, "GET", f"machines/{system_id}/")["status_name"]
                     in ("New", "Ready"), 60, "the machine to settle")

        started = time.monotonic()
        api(region, "POST", f"machines/{system_id}/?op=commission", {"skip_bmc_config": "1"})
        ready = wait_for(lambda: (lambda m: m if m["status_name"] in (
            "Ready", "Failed commissioning") else None)(
                api(region, "GET", f"machines/{system_id}/")), 300, "commissioning", console)
        to_ready = time.monotonic() - started
        assert ready["status_name"] == "Ready", ready["status_message"]
        # The VM's real hardware, as its kernel saw it.
        assert ready["cpu_count"] == 2
        assert 900 <= ready["memory"] <= 1024
        assert [(d["name"], d["size"]) for d in ready["blockdevice_set"]] == [
            ("vda", 2 << 30)]
        assert [i["mac_address"] for i in ready["interface_set"]] == [MAC]
        assert ready["boot_interface"]["mac_address"] == MAC
        assert "e1000" in ready["interface_set"][0]["tags"]
        wait_for(lambda: bmc.process is None, 60, "the image to power the VM off")

        started = time.monotonic()
        api(region, "POST", "machines/?op=allocate", {"system_id": system_id})
        api(region, "POST", f"machines/{system_id}/?op=deploy")
        deployed = wait_for(lambda: (lambda m: m if m["status_name"] in (
            "Deployed", "Failed deployment") else None)(
                api(region, "GET", f"machines/{system_id}/")), 300, "deployment", console)
        to_deployed = time.monotonic() - started
        assert deployed["status_name"] == "Deployed", deployed["status_message"]
        assert bmc.process is not None and bmc.process.poll() is None  # running, in memory
        assert "baremetal: deployed; running" in console.read_text(errors="replace")

        api(region, "POST", f"machines/{system_id}/?op=release")
        wait_for(lambda: api(region, "GET", f"machines/{system_id}/")["status_name"]
                 == "Ready", 60, "release")
        wait_for(lambda: bmc.process is None, 60, "release to power the VM off")
        TIMINGS.write_text(json.dumps({"power_on_to_ready_s": round(to_ready, 1),
                                       "power_on_to_deployed_s": round(to_deployed, 1)}))
        print(f"\nqemu (TCG): commission to Ready {to_ready:.1f} s; "
              f"deploy to Deployed {to_deployed:.1f} s")
    finally:
        stop.set()
        bmc.close()
        rack.terminate()
        rack.wait(timeout=30)
        stop_region(region)
    # The rack stops its dnsmasq when it is stopped.
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "rack/dhcp")], capture_output=True)
    assert left.returncode == 1, left.stdout
