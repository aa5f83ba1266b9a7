"""What the qemu end-to-end tests share: a namespace with a bridge and the VM's tap, a veth
whose host end (made by the test) is where the rack serves; a rack on it with DHCP from the
region's model; a VM machine whose power is a virtual BMC (qemu under TCG); API calls."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from baremetal.children import die_with_parent
from baremetal.sim.bmc import serve_forever
from baremetal.sim.qemu import QemuBmc, VmSpec
from baremetal.store.racks import rack_secret

from .api import oauth_header
from .live import BAREMETAL, wait_until

TIMINGS = Path(os.environ.get("BAREMETAL_E2E_TIMINGS", "/tmp/baremetal-e2e-timings.json"))


def record_timings(**values: object) -> None:
    """Keep the e2e figures (merged across the tests) for the closing notes."""
    found = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    TIMINGS.write_text(json.dumps({**found, **values}))


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextmanager
def vm_network(host_address: str) -> Iterator[str]:
    """The namespace (its name) with br0 and tap0; the host end has `host_address`/24."""
    suffix = f"{os.getpid() % 10000}{host_address.rsplit('.', 2)[1][-1]}"
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
        ip("addr", "add", f"{host_address}/24", "dev", host)
        prefix = host_address.rsplit(".", 2)[1]
        ip("-6", "addr", "add", f"fd77:{prefix}::1/64", "dev", host, "nodad")  # iPXE's RA
        ip("link", "set", host, "up")
        yield ns
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def api(region, method: str, path: str, data: dict | None = None):  # type: ignore[no-untyped-def]
    body = urllib.parse.urlencode(data or {}, doseq=True).encode() if method != "GET" else None
    request = urllib.request.Request(region.api + path, method=method, data=body, headers={
        "Authorization": oauth_header(region.admin_key)})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
        kind = response.headers.get("Content-Type", "")
    if not text:
        return None
    return json.loads(text) if kind.startswith("application/json") else text.decode()


def wait_for(predicate, timeout: float, what: str, console: Path | None = None):  # type: ignore[no-untyped-def]
    """wait_until, showing the end of the VM's console when it times out."""
    return wait_until(predicate, timeout, what, lambda: "--- console ---\n" + (
        console.read_text(errors="replace")[-3000:] if console and console.exists() else ""))


def start_rack(region, directory: Path, host_address: str) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    with region.store.write() as conn:
        secret = rack_secret(conn)
    return subprocess.Popen(
        [str(BAREMETAL), "rack", "--region-url", region.url.removesuffix("/MAAS/"),
         "--name", "e2e-rack", "--boot-dir", str(directory / "rack"), "--listen",
         host_address, "--tftp-port", "69", "--http-port", "5248", "--poll-interval", "5"],
        env={**os.environ, "BAREMETAL_RACK_SECRET": secret},
        stdout=(directory / "rack.log").open("wb"), stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent)


def serve_dhcp(region, directory: Path, host_address: str) -> None:  # type: ignore[no-untyped-def]
    """The rack's subnet with a dynamic range and DHCP on; until dnsmasq runs."""
    [rack_id] = wait_for(lambda: [r["system_id"] for r in api(
        region, "GET", "rackcontrollers/") if r["status"] == "up"], 60, "the rack")
    network = host_address.rsplit(".", 1)[0]
    subnet = api(region, "POST", "subnets/", {"cidr": f"{network}.0/24"})
    api(region, "POST", "ipranges/", {"type": "dynamic", "start_ip": f"{network}.100",
                                      "end_ip": f"{network}.150", "subnet": subnet["id"]})
    api(region, "PUT", f"vlans/{subnet['vlan']['id']}/",
        {"dhcp_on": "true", "primary_rack": rack_id})
    wait_for(lambda: (directory / "rack/dhcp/dnsmasq.conf").exists(), 60,
             "the rack to start DHCP")


class Vm:
    """A qemu VM with a virtual BMC on loopback, and the machine for it in the region."""

    def __init__(self, region, directory: Path, mac: str, netns: str,  # type: ignore[no-untyped-def]
                 memory_mib: int = 1024, disk_gib: int = 2) -> None:
        disk = directory / "disk.img"
        with disk.open("wb") as handle:
            handle.truncate(disk_gib << 30)
        self.console = directory / "console.log"
        self.bmc = QemuBmc(VmSpec(mac, "tap0", disk, cpus=2, memory_mib=memory_mib,
                                  netns=netns, console=self.console),
                           "admin", "vm-bmc-password")
        self.stop = threading.Event()
        threading.Thread(target=serve_forever, args=(self.stop,), daemon=True).start()
        machine = api(region, "POST", "machines/", {
            "hostname": "vm1", "architecture": "amd64/generic", "mac_addresses": mac,
            "power_type": "ipmi", "power_parameters_power_address": f"127.0.0.1:{self.bmc.port}",
            "power_parameters_power_user": "admin",
            "power_parameters_power_pass": "vm-bmc-password"})
        self.system_id = machine["system_id"]
        if machine["status_name"] != "New":
            wait_for(lambda: api(region, "GET", f"machines/{self.system_id}/")["status_name"]
                     in ("New", "Ready"), 60, "the machine to settle")

    def close(self) -> None:
        self.stop.set()
        self.bmc.close()


def commission(region, vm: Vm, timeout: float, what: str, **params: str) -> tuple[dict, float]:  # type: ignore[no-untyped-def]
    """Commission the VM and wait until it is Ready or failed: (machine, seconds)."""
    started = time.monotonic()
    api(region, "POST", f"machines/{vm.system_id}/?op=commission", params)
    machine = wait_for(lambda: (lambda m: m if m["status_name"] in (
        "Ready", "Failed commissioning") else None)(
            api(region, "GET", f"machines/{vm.system_id}/")), timeout, what, vm.console)
    return machine, time.monotonic() - started


def check_inventory(machine: dict, mac: str, memory_mib: int, host_address: str) -> None:
    """The VM's real hardware, as its kernel saw it: 2 CPUs, its memory less what the
    firmware and kernel keep, a 2 GiB virtio disk, its one NIC, booted from that NIC, which
    was seen with its DHCP address (from the dynamic range) and is linked AUTO to the
    subnet it booted on."""
    assert machine["status_name"] == "Ready", machine["status_message"]
    assert machine["cpu_count"] == 2
    assert memory_mib * 0.85 <= machine["memory"] <= memory_mib
    assert [(d["name"], d["size"]) for d in machine["blockdevice_set"]] == [("vda", 2 << 30)]
    assert [i["mac_address"] for i in machine["interface_set"]] == [mac]
    assert machine["boot_interface"]["mac_address"] == mac
    nic = machine["interface_set"][0]
    assert "e1000" in nic["tags"]
    network = host_address.rsplit(".", 1)[0]
    [seen] = nic["discovered"]
    assert seen["subnet"]["cidr"] == f"{network}.0/24"
    assert 100 <= int(seen["ip_address"].rsplit(".", 1)[1]) <= 150
    assert [(link["mode"], link["subnet"]["cidr"]) for link in nic["links"]] == [
        ("auto", f"{network}.0/24")]
