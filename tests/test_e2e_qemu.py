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

import subprocess
import time

import pytest

from .live import start_region, stop_region, store_image
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
MAC = "52:54:00:e2:e0:01"
HOST_ADDRESS = "10.254.9.1"


@pytest.fixture(scope="module")
def network():
    with vm_network(HOST_ADDRESS) as ns:
        yield ns


def test_a_qemu_vm_is_commissioned_deployed_and_released(network, tmp_path):
    region = start_region(tmp_path, command="region")
    store_image(region.store)
    rack = start_rack(region, tmp_path, HOST_ADDRESS)
    vm = None
    try:
        serve_dhcp(region, tmp_path, HOST_ADDRESS)
        vm = Vm(region, tmp_path, MAC, network)
        system_id, bmc, console = vm.system_id, vm.bmc, vm.console

        ready, to_ready = commission(region, vm, 300, "commissioning", skip_bmc_config="1")
        check_inventory(ready, MAC, 1024, HOST_ADDRESS)
        wait_for(lambda: bmc.process is None, 60, "the image to power the VM off")

        started = time.monotonic()
        api(region, "POST", "machines/?op=allocate", {"system_id": system_id})
        api(region, "POST", f"machines/{system_id}/?op=deploy")
        deployed = wait_for(lambda: (lambda m: m if m["status_name"] in (
            "Deployed", "Failed deployment") else None)(
                api(region, "GET", f"machines/{system_id}/")), 300, "deployment", console)
        to_deployed = time.monotonic() - started
        assert deployed["status_name"] == "Deployed", deployed["status_message"]
        # Commissioning linked the boot NIC AUTO to the subnet it booted on; the deploy
        # gave it an address there, outside the dynamic range (what Juju reads).
        [link] = deployed["interface_set"][0]["links"]
        assert link["mode"] == "auto" and link["subnet"]["cidr"] == "10.254.9.0/24"
        assert deployed["ip_addresses"] == [link["ip_address"]] == ["10.254.9.2"]
        assert bmc.process is not None and bmc.process.poll() is None  # running, in memory
        # (the image says so just after its last report, which made it Deployed)
        wait_for(lambda: "baremetal: deployed; running" in console.read_text(errors="replace"),
                 30, "the image to say it keeps running", console)

        api(region, "POST", f"machines/{system_id}/?op=release")
        wait_for(lambda: api(region, "GET", f"machines/{system_id}/")["status_name"]
                 == "Ready", 60, "release")
        wait_for(lambda: bmc.process is None, 60, "release to power the VM off")
        record_timings(power_on_to_ready_s=round(to_ready, 1),
                       power_on_to_deployed_s=round(to_deployed, 1))
        print(f"\nqemu (TCG): commission to Ready {to_ready:.1f} s; "
              f"deploy to Deployed {to_deployed:.1f} s")
    finally:
        if vm is not None:
            vm.close()
        rack.terminate()
        rack.wait(timeout=30)
        stop_region(region)
    # The rack stops its dnsmasq when it is stopped.
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "rack/dhcp")], capture_output=True)
    assert left.returncode == 1, left.stdout
