"""The rendered network configuration, for every shape a machine can have, accepted by the
real renderer: Debian's `netplan generate` into a temporary root (it writes the
systemd-networkd units it would apply), and checked for what a deployed OS needs."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from baremetal.models import (
    VLAN,
    Interface,
    InterfaceType,
    Link,
    LinkMode,
    Machine,
    Subnet,
)
from baremetal.models.machine import Domain, Zone
from baremetal.network.netplan import render_network_config

UNTAGGED = VLAN(id=1, fabric_id=1, fabric="fabric-0", vid=0)
TAGGED = VLAN(id=2, fabric_id=1, fabric="fabric-0", vid=42)
LAN = Subnet(id=1, name="lan", cidr="10.0.0.0/24", vlan=UNTAGGED, gateway_ip="10.0.0.1",
             dns_servers=["10.0.0.2", "10.0.0.3"])
STORAGE = Subnet(id=2, name="storage", cidr="10.42.0.0/24", vlan=TAGGED,
                 gateway_ip="10.42.0.1", dns_servers=["10.42.0.2"])
V6 = Subnet(id=3, name="v6", cidr="fd00:1::/64", vlan=UNTAGGED, gateway_ip="fd00:1::1")


def nic(n: int, name: str | None = None, kind=InterfaceType.PHYSICAL, links=(), **extra):  # type: ignore[no-untyped-def]
    return Interface(id=n, name=name or f"eth{n}", type=kind,
                     mac_address=f"52:54:00:00:00:{n:02x}", links=list(links),
                     vlan=extra.pop("vlan", UNTAGGED), **extra)


def link(n: int, mode: LinkMode, subnet: Subnet | None, ip: str | None = None,
         default: bool = False) -> Link:
    return Link(id=n, mode=mode, subnet=subnet, ip_address=ip, default_gateway=default)


def machine(*interfaces: Interface) -> Machine:
    return Machine(id=1, system_id="abc123", hostname="node1", interfaces=list(interfaces),
                   domain=Domain(id=0, name="maas"), zone=Zone(id=1, name="default"))


SHAPES = {
    "physical static with routes and DNS": machine(
        nic(1, links=[link(1, LinkMode.STATIC, LAN, "10.0.0.10")])),
    "physical dhcp, v6 static, link-up": machine(
        nic(1, links=[link(1, LinkMode.DHCP, LAN)]),
        nic(2, links=[link(2, LinkMode.STATIC, V6, "fd00:1::10")]),
        nic(3, links=[link(3, LinkMode.LINK_UP, None)])),
    "bond 802.3ad": machine(
        nic(1), nic(2),
        nic(3, "bond0", InterfaceType.BOND, [link(3, LinkMode.AUTO, LAN, "10.0.0.11")],
            parents=["eth1", "eth2"], params={
                "bond_mode": "802.3ad", "bond_miimon": 100, "bond_lacp_rate": "fast",
                "bond_xmit_hash_policy": "layer3+4"})),
    "bond active-backup": machine(
        nic(1), nic(2),
        nic(3, "bond0", InterfaceType.BOND, [link(3, LinkMode.DHCP, LAN)],
            parents=["eth1", "eth2"], params={"bond_mode": "active-backup",
                                              "bond_miimon": 100})),
    "vlan on bond": machine(
        nic(1), nic(2),
        nic(3, "bond0", InterfaceType.BOND, [link(3, LinkMode.STATIC, LAN, "10.0.0.12")],
            parents=["eth1", "eth2"], params={"bond_mode": "balance-rr"}),
        nic(4, "bond0.42", InterfaceType.VLAN, [link(4, LinkMode.STATIC, STORAGE,
                                                     "10.42.0.12", default=True)],
            parents=["bond0"], vlan=TAGGED)),
    "bridge on vlan": machine(
        nic(1, links=[link(1, LinkMode.STATIC, LAN, "10.0.0.13")]),
        nic(2, "eth1.42", InterfaceType.VLAN, parents=["eth1"], vlan=TAGGED),
        nic(3, "br0", InterfaceType.BRIDGE, [link(3, LinkMode.AUTO, STORAGE, "10.42.0.13")],
            parents=["eth1.42"], params={"bridge_stp": True, "bridge_fd": 4}, mtu=9000)),
}


# Static routes by source subnet: the LAN reaches 192.168.50.0/24 through 10.0.0.254.
ROUTES = {LAN.id: [("192.168.50.0/24", "10.0.0.254", 100)]}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_shape_passes_netplan_generate(shape, tmp_path):
    config = render_network_config(SHAPES[shape], ROUTES)
    root = tmp_path / "root"
    (root / "etc/netplan").mkdir(parents=True)
    path = root / "etc/netplan/50-cloud-init.yaml"
    path.write_text(json.dumps({"network": config}, indent=1))  # JSON is YAML
    path.chmod(0o600)
    done = subprocess.run([shutil.which("netplan") or "/usr/sbin/netplan", "generate",
                           "--root-dir", str(root)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"{done.stderr}\n{path.read_text()}"
    units = {p.name: p.read_text() for p in (root / "run/systemd/network").glob("*")}
    assert units, "netplan wrote no networkd units"
    every = "\n".join(units.values())
    for nic_ in SHAPES[shape].interfaces:
        if nic_.type is InterfaceType.PHYSICAL:
            assert nic_.mac_address in every  # matched by MAC
        for link_ in nic_.links:
            if link_.ip_address:
                assert link_.ip_address in every
    if shape == "physical static with routes and DNS":
        assert "Destination=192.168.50.0/24" in every and "Gateway=10.0.0.254" in every


def test_what_a_deployed_os_needs_is_in_the_config():
    config = render_network_config(SHAPES["vlan on bond"])
    assert config["ethernets"]["eth1"] == {
        "match": {"macaddress": "52:54:00:00:00:01"}, "set-name": "eth1", "mtu": 1500}
    bond = config["bonds"]["bond0"]
    assert bond["interfaces"] == ["eth1", "eth2"]
    assert bond["parameters"] == {"mode": "balance-rr"}
    assert bond["addresses"] == ["10.0.0.12/24"] and "routes" not in bond
    vlan = config["vlans"]["bond0.42"]
    assert (vlan["id"], vlan["link"]) == (42, "bond0")
    # The default gateway is the link marked so, not the first one.
    assert vlan["routes"] == [{"to": "0.0.0.0/0", "via": "10.42.0.1"}]
    assert vlan["nameservers"] == {"addresses": ["10.42.0.2"]}
    physical = render_network_config(SHAPES["physical static with routes and DNS"], ROUTES)
    eth1 = physical["ethernets"]["eth1"]
    assert eth1["routes"] == [{"to": "0.0.0.0/0", "via": "10.0.0.1"},
                              {"to": "192.168.50.0/24", "via": "10.0.0.254", "metric": 100}]
    assert eth1["nameservers"] == {"addresses": ["10.0.0.2", "10.0.0.3"]}
    lacp = render_network_config(SHAPES["bond 802.3ad"])["bonds"]["bond0"]["parameters"]
    assert lacp == {"mode": "802.3ad", "mii-monitor-interval": 100, "lacp-rate": "fast",
                    "transmit-hash-policy": "layer3+4"}
    mixed = render_network_config(SHAPES["physical dhcp, v6 static, link-up"])["ethernets"]
    assert mixed["eth1"]["dhcp4"] is True and mixed["eth2"]["addresses"] == ["fd00:1::10/64"]
    assert "addresses" not in mixed["eth3"] and "dhcp4" not in mixed["eth3"]


@pytest.fixture(scope="module")
def debian_cloud_init(tmp_path_factory):
    """cloud-init 22.4's Python package, taken from the Debian image (built once per
    machine, cached): the very code that will read this config on a deployed machine."""
    from baremetal.images.debian import BuildInputs, build

    image = build(BuildInputs())
    [squashfs] = [f.path for f in image.files if f.filetype == "squashfs"]
    target = tmp_path_factory.mktemp("cloud-init") / "root"
    subprocess.run(["unsquashfs", "-q", "-d", str(target), str(squashfs),
                    "usr/lib/python3/dist-packages/cloudinit"], check=True,
                   capture_output=True, timeout=300)
    return target / "usr/lib/python3/dist-packages"


CLOUD_INIT_CHECK = """
import json, sys
from cloudinit.net import eni
from cloudinit.net.network_state import parse_net_config_data
state = parse_net_config_data(json.load(sys.stdin), skip_broken=False)
print(eni.Renderer()._render_interfaces(state))
"""


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_shape_is_read_by_debian_cloud_init(shape, debian_cloud_init):
    """Debian 12's cloud-init parses the config (no broken entry skipped) and renders the
    ifupdown configuration it writes on the installed machine."""
    import sys

    config = render_network_config(SHAPES[shape], ROUTES)
    done = subprocess.run([sys.executable, "-c", CLOUD_INIT_CHECK], input=json.dumps(config),
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(debian_cloud_init), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    interfaces = done.stdout
    for nic_ in SHAPES[shape].interfaces:
        assert f"iface {nic_.name}" in interfaces or f"auto {nic_.name}" in interfaces
        for link_ in nic_.links:
            if link_.ip_address:
                assert f"address {link_.ip_address}" in interfaces
    default = next((found for n in SHAPES[shape].interfaces for found in n.links
                    if found.default_gateway), None)
    if default is not None:  # the default route, through the link marked so
        assert f"route add default gw {default.subnet.gateway_ip}" in interfaces
    if shape == "physical static with routes and DNS":
        # (cloud-init 22.4's ifupdown renderer drops the metric; netplan keeps it)
        assert "route add -net 192.168.50.0/24 gw 10.0.0.254 " in interfaces
