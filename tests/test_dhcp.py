"""DHCP for real: the rack's rendered dnsmasq config in one network namespace, busybox's
udhcpc in another, over a veth pair made by the test."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from baremetal.boot.dhcp import plan_dhcp, render_dnsmasq
from baremetal.rack.dhcp import DhcpService, InvalidDhcpConfig
from baremetal.store.boot import create_ip_range, create_reserved_ip, dhcp_for_rack, set_vlan_dhcp
from baremetal.store.racks import register_rack
from baremetal.store.references import create_subnet, network_index
from tests.conftest import migrated_store

RESERVED_MAC = "52:54:00:00:00:42"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def network(tmp_path):
    """Two namespaces joined by a veth pair: the rack's side has 10.254.7.1/24."""
    suffix = f"{os.getpid() % 10000}{int(time.monotonic() * 1000) % 1000}"
    server, client = f"bmsrv{suffix}", f"bmcli{suffix}"
    ip("netns", "add", server)
    ip("netns", "add", client)
    try:
        ip("link", "add", "bmv0", "netns", server, "type", "veth", "peer", "name", "bmv1",
           "netns", client)
        ip("-n", server, "addr", "add", "10.254.7.1/24", "dev", "bmv0")
        ip("-n", server, "-6", "addr", "add", "fd77::1/64", "dev", "bmv0", "nodad")
        ip("-n", server, "link", "set", "bmv0", "up")
        ip("-n", server, "link", "set", "lo", "up")
        ip("-n", client, "link", "set", "lo", "up")
        yield server, client
    finally:
        ip("netns", "del", server)
        ip("netns", "del", client)


RACK_INTERFACES = [{"name": "bmv0", "mac_address": "02:00:00:00:07:01",
                    "addresses": ["10.254.7.1/24", "fd77::1/64"]}]


def config(tmp_path: Path, range_start: str = "10.254.7.100") -> str:
    """The rack's dnsmasq config, from the region's model: a subnet on a VLAN with DHCP on
    and this rack as primary, a dynamic range and a host reservation."""
    store = migrated_store(f"sqlite:///{tmp_path}/region-{range_start}.db")
    with store.write() as conn:
        rack = register_rack(conn, name="rack1", hostname="rack1", version="test",
                             interfaces=RACK_INTERFACES, subnets=["10.254.7.0/24"])
        vlan_id = min(network_index(conn)[0])
        subnet_id = create_subnet(conn, "10.254.7.0/24", vlan_id, gateway_ip="10.254.7.1")
        create_ip_range(conn, subnet_id, "dynamic", "10.254.7.100", "10.254.7.150")
        create_reserved_ip(conn, subnet_id, "10.254.7.42", RESERVED_MAC)
        set_vlan_dhcp(conn, vlan_id, dhcp_on=True, primary_rack=rack)
        served = dhcp_for_rack(conn, rack)
    store.dispose()
    served[0]["dns_servers"] = ["10.254.7.1"]
    served[0]["ranges"][0]["start"] = range_start  # lets a test break the config on purpose
    return render_dnsmasq(plan_dhcp(served, RACK_INTERFACES))


def lease(client: str, tmp_path: Path, mac: str, arch: str | None = None) -> dict[str, str]:
    """Ask for an address as a PXE client of architecture `arch` (DHCP option 93)."""
    ip("-n", client, "link", "set", "bmv1", "down")
    ip("-n", client, "link", "set", "bmv1", "address", mac)
    ip("-n", client, "link", "set", "bmv1", "up")
    out = tmp_path / f"lease-{mac.replace(':', '')}-{arch}"
    script = tmp_path / "udhcpc.sh"
    script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && env > {out}\nexit 0\n')
    script.chmod(0o755)
    command = ["ip", "netns", "exec", client, "busybox", "udhcpc", "-i", "bmv1", "-n", "-q",
               "-f", "-t", "8", "-T", "1", "-s", str(script)]
    if arch is not None:
        command += ["-x", f"0x5d:{arch}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)


def test_dhcp_serves_addresses_next_server_and_bootloaders(network, tmp_path):
    server, client = network
    service = DhcpService(tmp_path / "dhcp", ("ip", "netns", "exec", server))
    try:
        service.apply(config(tmp_path))
        time.sleep(0.5)
        bios = lease(client, tmp_path, "52:54:00:00:00:01")
        address = bios["ip"].split(".")
        assert address[:3] == ["10", "254", "7"] and 100 <= int(address[3]) <= 150
        assert bios["siaddr"] == "10.254.7.1" and bios["boot_file"] == "undionly.kpxe"
        assert bios["router"] == "10.254.7.1"
        uefi = lease(client, tmp_path, "52:54:00:00:00:02", arch="0007")
        assert uefi["boot_file"] == "ipxe.efi"
        arm = lease(client, tmp_path, "52:54:00:00:00:03", arch="000b")
        assert arm["boot_file"] == "grubaa64.efi"
        assert lease(client, tmp_path, RESERVED_MAC)["ip"] == "10.254.7.42"
    finally:
        service.stop()


def test_an_invalid_config_is_not_installed_and_the_old_one_keeps_serving(network, tmp_path):
    server, client = network
    service = DhcpService(tmp_path / "dhcp", ("ip", "netns", "exec", server))
    try:
        service.apply(config(tmp_path))
        good = service.config.read_text()
        with pytest.raises(InvalidDhcpConfig) as refused:
            service.apply(config(tmp_path, range_start="10.254.7.not-an-address"))
        assert "at line" in str(refused.value)  # dnsmasq names the offending line
        assert service.config.read_text() == good and service.running()
        time.sleep(0.5)
        assert lease(client, tmp_path, "52:54:00:00:00:09")["siaddr"] == "10.254.7.1"
    finally:
        service.stop()
