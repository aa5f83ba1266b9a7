"""The network configuration a machine gets, as cloud-init network config version 2
(netplan's schema): one pure function of its interfaces, their links and subnets.

- Physical NICs are matched by MAC and keep their names (`set-name`); a NIC that is a
  bond member carries nothing else.
- Bonds, VLANs and bridges with their parents and parameters.
- STATIC and AUTO links: their addresses with the subnet's prefix; DHCP links: dhcp4/dhcp6;
  LINK_UP links: the interface is only brought up.
- The default route goes through the link marked default gateway (else the first STATIC
  or AUTO link on a subnet with a gateway); a link's subnet's static routes go through
  its interface; the subnets' DNS servers become nameservers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from baremetal.models import Interface, InterfaceType, LinkMode, Machine

BOND_KEYS = {"bond_mode": "mode", "bond_miimon": "mii-monitor-interval",
             "bond_lacp_rate": "lacp-rate", "bond_xmit_hash_policy": "transmit-hash-policy",
             "bond_updelay": "up-delay", "bond_downdelay": "down-delay"}
SECTIONS = {InterfaceType.PHYSICAL: "ethernets", InterfaceType.BOND: "bonds",
            InterfaceType.VLAN: "vlans", InterfaceType.BRIDGE: "bridges"}


def _default_link(machine: Machine) -> tuple[str, Any] | None:
    """(interface name, link) the default route goes through."""
    candidates = [(nic.name, link) for nic in machine.interfaces for link in nic.links
                  if link.subnet is not None and link.subnet.gateway_ip and link.ip_address
                  and link.mode in (LinkMode.STATIC, LinkMode.AUTO)]
    chosen = [c for c in candidates if c[1].default_gateway]
    return (chosen or candidates or [None])[0]


def _addressing(nic: Interface, default: tuple[str, Any] | None,
                routes: Mapping[int, Sequence[tuple[str, str, int]]]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    addresses, servers, table = [], [], []
    for link in nic.links:
        subnet = link.subnet
        if subnet is None:
            continue
        network = ipaddress.ip_network(subnet.cidr, strict=False)
        if link.mode is LinkMode.DHCP:
            config["dhcp6" if network.version == 6 else "dhcp4"] = True
        elif link.mode in (LinkMode.STATIC, LinkMode.AUTO) and link.ip_address:
            addresses.append(f"{link.ip_address}/{network.prefixlen}")
            if default is not None and default[0] == nic.name and default[1].id == link.id:
                # (not "default": cloud-init 22.4, Debian 12's, refuses it)
                table.append({"to": "0.0.0.0/0" if network.version == 4 else "::/0",
                              "via": subnet.gateway_ip})
        if link.mode is not LinkMode.LINK_UP:
            table += [{"to": destination, "via": gateway, "metric": metric}
                      for destination, gateway, metric in routes.get(subnet.id, ())]
        servers += [s for s in subnet.dns_servers if s not in servers]
    if addresses:
        config["addresses"] = addresses
    if table:
        config["routes"] = table
    if servers:
        config["nameservers"] = {"addresses": servers}
    return config


def _parameters(nic: Interface) -> dict[str, Any]:
    params = nic.params or {}
    if nic.type is InterfaceType.BOND:
        out: dict[str, Any] = {}
        for key, name in BOND_KEYS.items():
            if params.get(key) not in (None, ""):
                value = params[key]
                out[name] = int(value) if name.endswith(("interval", "delay")) else value
        if out.get("mode") not in ("802.3ad",):
            out.pop("lacp-rate", None)  # netplan: only for 802.3ad
        if out.get("mode") not in ("802.3ad", "balance-xor", "balance-tlb", "balance-alb"):
            out.pop("transmit-hash-policy", None)
        return out
    if nic.type is InterfaceType.BRIDGE:
        return {"stp": bool(params.get("bridge_stp", False)),
                "forward-delay": int(params.get("bridge_fd", 15))}
    return {}


def render_network_config(machine: Machine, routes: Mapping[int, Sequence[tuple[str, str, int]]]
                          | None = None) -> dict[str, Any]:
    """cloud-init network config v2 for the machine (the `network:` key's value); `routes`
    are the static routes by source subnet id: (destination CIDR, gateway, metric)."""
    default = _default_link(machine)
    config: dict[str, Any] = {"version": 2}
    members = {parent for nic in machine.interfaces if nic.type is InterfaceType.BOND
               for parent in nic.parents}
    for nic in machine.interfaces:
        if not nic.enabled:
            continue
        entry: dict[str, Any] = {}
        if nic.type is InterfaceType.PHYSICAL:
            if nic.mac_address:
                entry["match"] = {"macaddress": nic.mac_address.lower()}
                entry["set-name"] = nic.name
        elif nic.type is InterfaceType.VLAN:
            entry["id"] = nic.vlan.vid if nic.vlan is not None else 0
            entry["link"] = nic.parents[0]
        else:
            entry["interfaces"] = list(nic.parents)
            parameters = _parameters(nic)
            if parameters:
                entry["parameters"] = parameters
            if nic.type is InterfaceType.BOND and nic.mac_address:
                entry["macaddress"] = nic.mac_address.lower()
        if nic.mtu:
            entry["mtu"] = nic.mtu
        if nic.name not in members:
            entry.update(_addressing(nic, default, routes or {}))
        config.setdefault(SECTIONS[nic.type], {})[nic.name] = entry
    return config
