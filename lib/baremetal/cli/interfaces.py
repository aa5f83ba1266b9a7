"""`baremetal interfaces list|link|unlink|bond|vlan|bridge|delete SYSTEM_ID ...`: a node's
network interfaces, shaped through the region's API (a login profile, as the other
client commands)."""

from __future__ import annotations

import argparse

from .client import CommandError, Region, output

COLUMNS = ("id", "name", "type", "mac_address", "vlan", "parents", "links")


def add_parser(commands, common) -> None:  # type: ignore[no-untyped-def]
    interfaces = commands.add_parser("interfaces", help="a node's network interfaces: list, "
                                                        "link, unlink, bond, vlan, bridge, "
                                                        "delete")
    sub = interfaces.add_subparsers(dest="interfaces_command", required=True)
    common(sub.add_parser("list", help="interfaces with their links and addresses")
           ).add_argument("system_id")
    link = common(sub.add_parser("link", help="link an interface to a subnet"))
    link.add_argument("system_id")
    link.add_argument("interface", help="name or id")
    link.add_argument("--mode", required=True, choices=("auto", "dhcp", "static", "link_up"))
    link.add_argument("--subnet", help="id, CIDR or name")
    link.add_argument("--ip", help="STATIC: this address (default: the next free one)")
    link.add_argument("--default-gateway", action="store_true")
    unlink = common(sub.add_parser("unlink", help="remove a link"))
    unlink.add_argument("system_id")
    unlink.add_argument("interface")
    unlink.add_argument("link_id", type=int)
    bond = common(sub.add_parser("bond", help="bond interfaces"))
    bond.add_argument("system_id")
    bond.add_argument("name")
    bond.add_argument("--parents", required=True, help="comma-separated names or ids")
    bond.add_argument("--mode", default="active-backup")
    bond.add_argument("--miimon", type=int, default=100)
    bond.add_argument("--lacp-rate")
    bond.add_argument("--xmit-hash-policy")
    vlan = common(sub.add_parser("vlan", help="a VLAN interface on a parent"))
    vlan.add_argument("system_id")
    vlan.add_argument("parent")
    vlan.add_argument("--vlan", type=int, required=True, help="the VLAN's id (vlans/)")
    bridge = common(sub.add_parser("bridge", help="a bridge on a parent"))
    bridge.add_argument("system_id")
    bridge.add_argument("name")
    bridge.add_argument("--parent", required=True)
    bridge.add_argument("--stp", action="store_true")
    delete = common(sub.add_parser("delete", help="delete an interface"))
    delete.add_argument("system_id")
    delete.add_argument("interface")


def _row(nic: dict) -> dict:
    links = [f"{link['mode']}:{link.get('ip_address') or '-'}@"
             f"{(link.get('subnet') or {}).get('cidr', '-')}" for link in nic["links"]]
    vlan = nic.get("vlan") or {}
    return {"id": nic["id"], "name": nic["name"], "type": nic["type"],
            "mac_address": nic["mac_address"],
            "vlan": f"{vlan.get('fabric', '')}.{vlan.get('vid', '')}" if vlan else "",
            "parents": nic["parents"], "links": " ".join(links)}


def _id_of(nics: list[dict], wanted: str) -> int:
    for nic in nics:
        if wanted in (str(nic["id"]), nic["name"]):
            return nic["id"]
    raise CommandError(f"no interface '{wanted}' on this node "
                       f"(it has {', '.join(n['name'] for n in nics)})")


def client(args: argparse.Namespace) -> int:
    region = Region.from_profile(args.profile)
    base = f"nodes/{args.system_id}/interfaces/"
    nics = region.call("GET", base)
    command = args.interfaces_command
    if command == "list":
        output(nics if args.format == "json" else [_row(n) for n in nics], args.format,
               None if args.format == "json" else COLUMNS)
        return 0
    if command == "bond":
        parents = [_id_of(nics, p) for p in args.parents.split(",") if p]
        data: list[tuple[str, str]] = [("name", args.name), ("bond_mode", args.mode),
                                       ("bond_miimon", str(args.miimon))]
        data += [("parents", str(p)) for p in parents]
        for key, value in (("bond_lacp_rate", args.lacp_rate),
                           ("bond_xmit_hash_policy", args.xmit_hash_policy)):
            if value:
                data.append((key, value))
        changed = region.call("POST", base, "create_bond", data)
    elif command == "vlan":
        changed = region.call("POST", base, "create_vlan", {
            "parent": _id_of(nics, args.parent), "vlan": args.vlan})
    elif command == "bridge":
        changed = region.call("POST", base, "create_bridge", {
            "name": args.name, "parent": _id_of(nics, args.parent),
            "bridge_stp": str(args.stp).lower()})
    else:
        one = f"{base}{_id_of(nics, args.interface)}/"
        if command == "delete":
            region.call("DELETE", one)
            print(f"deleted {args.interface}")
            return 0
        if command == "unlink":
            changed = region.call("POST", one, "unlink_subnet", {"id": args.link_id})
        else:
            data = {"mode": args.mode}
            if args.subnet:
                data["subnet"] = args.subnet
            if args.ip:
                data["ip_address"] = args.ip
            if args.default_gateway:
                data["default_gateway"] = "true"
            changed = region.call("POST", one, "link_subnet", data)
    output(changed if args.format == "json" else _row(changed), args.format,
           None if args.format == "json" else COLUMNS)
    return 0
