"""Shaping a node's interfaces as MAAS does: update, bonds, VLANs, bridges, links removed,
the default gateway, disconnect, delete. Each function checks what a person could get
wrong (a parent of another node, a VLAN of another fabric, ...) and raises InterfaceError
with a message for them; the caller's transaction then changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from . import schema as t

BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
              "balance-tlb", "balance-alb")
LACP_RATES = ("fast", "slow")
XMIT_HASH_POLICIES = ("layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4")
BRIDGE_TYPES = ("standard", "ovs")


class InterfaceError(ValueError):
    """Bad interface input; the message is for a person."""


def _row(conn: Connection, interface_id: int) -> Any:
    row = conn.execute(select(t.interfaces).where(t.interfaces.c.id == interface_id)).first()
    if row is None:
        raise InterfaceError(f"No interface with id {interface_id}.")
    return row


def _name_free(conn: Connection, machine_id: int, name: str, but: int | None = None) -> None:
    i = t.interfaces
    found = conn.execute(select(i.c.id).where(i.c.machine_id == machine_id, i.c.name == name)
                         ).first()
    if found is not None and found.id != but:
        raise InterfaceError(f"name: this node already has an interface named '{name}'.")


def update_interface(conn: Connection, interface_id: int, *, name: str | None = None,
                     mtu: int | None = None, tags: list[str] | None = None,
                     vlan_id: int | None = None, params: dict[str, Any] | None = None) -> None:
    row = _row(conn, interface_id)
    values: dict[str, Any] = {}
    if name is not None and name != row.name:
        if not name or len(name) > 15 or any(c in name for c in " /:"):
            raise InterfaceError(f"name: '{name}' is not an interface name (at most 15 "
                                 "characters, no spaces, '/' or ':').")
        _name_free(conn, row.machine_id, name, interface_id)
        values["name"] = name
        # Children name their parents.
        for child in conn.execute(select(t.interfaces).where(
                t.interfaces.c.machine_id == row.machine_id)):
            if row.name in (child.parents or []):
                conn.execute(update(t.interfaces).where(t.interfaces.c.id == child.id).values(
                    parents=[name if p == row.name else p for p in child.parents]))
    if mtu is not None:
        if not 552 <= mtu <= 65535:
            raise InterfaceError("mtu: must be between 552 and 65535.")
        values["mtu"] = mtu
    if tags is not None:
        values["tags"] = tags
    if vlan_id is not None:
        if conn.execute(select(t.vlans.c.id).where(t.vlans.c.id == vlan_id)).first() is None:
            raise InterfaceError(f"vlan: no VLAN with id {vlan_id}.")
        values["vlan_id"] = vlan_id
    if params is not None:
        values["params"] = {**(row.params or {}), **params}
    if values:
        conn.execute(update(t.interfaces).where(t.interfaces.c.id == interface_id)
                     .values(**values))


def _parents(conn: Connection, machine_id: int, parent_ids: list[int]) -> list[Any]:
    if not parent_ids:
        raise InterfaceError("parents: give at least one parent interface.")
    rows = conn.execute(select(t.interfaces).where(t.interfaces.c.id.in_(parent_ids))).all()
    found = {row.id: row for row in rows}
    for parent_id in parent_ids:
        if parent_id not in found:
            raise InterfaceError(f"parents: no interface with id {parent_id}.")
        if found[parent_id].machine_id != machine_id:
            raise InterfaceError(f"parents: interface {parent_id} ({found[parent_id].name}) "
                                 "belongs to another node.")
    return [found[parent_id] for parent_id in parent_ids]


def _new_child(conn: Connection, machine_id: int, kind: str, name: str, parents: list[Any],
               vlan_id: int | None, params: dict[str, Any], mac: str | None = None,
               mtu: int | None = None) -> int:
    _name_free(conn, machine_id, name)
    # The parents' links go (their addresses' claims with them, by the foreign key): the
    # new interface is the one that carries addresses.
    conn.execute(delete(t.ip_links).where(t.ip_links.c.interface_id.in_(
        [p.id for p in parents])))
    return conn.execute(insert(t.interfaces).values(
        machine_id=machine_id, name=name, type=kind,
        mac_address=mac or parents[0].mac_address, enabled=True,
        mtu=mtu or max(p.mtu for p in parents), link_speed=max(p.link_speed for p in parents),
        vlan_id=vlan_id, parents=[p.name for p in parents], tags=[], params=params)
    ).inserted_primary_key[0]


def create_bond(conn: Connection, machine_id: int, name: str, parent_ids: list[int], *,
                bond_mode: str = "balance-rr", miimon: int = 100,
                lacp_rate: str | None = None, xmit_hash_policy: str | None = None,
                mac_address: str | None = None, mtu: int | None = None) -> int:
    if bond_mode not in BOND_MODES:
        raise InterfaceError(f"bond_mode: '{bond_mode}' is not one of {', '.join(BOND_MODES)}.")
    if lacp_rate is not None and lacp_rate not in LACP_RATES:
        raise InterfaceError(f"bond_lacp_rate: '{lacp_rate}' is not fast or slow.")
    if xmit_hash_policy is not None and xmit_hash_policy not in XMIT_HASH_POLICIES:
        raise InterfaceError(f"bond_xmit_hash_policy: '{xmit_hash_policy}' is not one of "
                             f"{', '.join(XMIT_HASH_POLICIES)}.")
    parents = _parents(conn, machine_id, parent_ids)
    if len(parents) < 2 and bond_mode != "active-backup":
        raise InterfaceError("parents: a bond needs at least two interfaces.")
    for parent in parents:
        if parent.type != "physical":
            raise InterfaceError(f"parents: {parent.name} is a {parent.type}; bonds are made "
                                 "of physical interfaces.")
    params = {"bond_mode": bond_mode, "bond_miimon": miimon}
    if lacp_rate:
        params["bond_lacp_rate"] = lacp_rate
    if xmit_hash_policy:
        params["bond_xmit_hash_policy"] = xmit_hash_policy
    return _new_child(conn, machine_id, "bond", name, parents, parents[0].vlan_id, params,
                      mac_address, mtu)


def create_vlan_interface(conn: Connection, machine_id: int, parent_id: int,
                          vlan_id: int) -> int:
    [parent] = _parents(conn, machine_id, [parent_id])
    vlan = conn.execute(select(t.vlans).where(t.vlans.c.id == vlan_id)).first()
    if vlan is None:
        raise InterfaceError(f"vlan: no VLAN with id {vlan_id}.")
    if parent.vlan_id is not None:
        fabric = conn.execute(select(t.vlans.c.fabric_id).where(
            t.vlans.c.id == parent.vlan_id)).scalar()
        if fabric != vlan.fabric_id:
            raise InterfaceError(f"vlan: VLAN {vlan.vid} is on another fabric than "
                                 f"{parent.name}'s.")
    if vlan.vid == 0:
        raise InterfaceError("vlan: the untagged VLAN of a fabric needs no VLAN interface.")
    name = f"{parent.name}.{vlan.vid}"
    _name_free(conn, machine_id, name)
    return conn.execute(insert(t.interfaces).values(
        machine_id=machine_id, name=name, type="vlan", mac_address=parent.mac_address,
        enabled=True, mtu=parent.mtu, link_speed=parent.link_speed, vlan_id=vlan_id,
        parents=[parent.name], tags=[], params={})).inserted_primary_key[0]


def create_bridge(conn: Connection, machine_id: int, name: str, parent_id: int, *,
                  bridge_type: str = "standard", stp: bool = False,
                  forward_delay: int = 15, mtu: int | None = None) -> int:
    if bridge_type not in BRIDGE_TYPES:
        raise InterfaceError(f"bridge_type: '{bridge_type}' is not standard or ovs.")
    parents = _parents(conn, machine_id, [parent_id])
    if parents[0].type == "bridge":
        raise InterfaceError(f"parent: {parents[0].name} is a bridge already.")
    params = {"bridge_type": bridge_type, "bridge_stp": stp, "bridge_fd": forward_delay}
    return _new_child(conn, machine_id, "bridge", name, parents, parents[0].vlan_id, params,
                      mtu=mtu)


def unlink(conn: Connection, interface_id: int, link_id: int) -> None:
    found = conn.execute(select(t.ip_links.c.id).where(
        t.ip_links.c.id == link_id, t.ip_links.c.interface_id == interface_id)).first()
    if found is None:
        raise InterfaceError(f"id: this interface has no link with id {link_id}.")
    conn.execute(delete(t.ip_links).where(t.ip_links.c.id == link_id))


def set_default_gateway(conn: Connection, machine_id: int, interface_id: int,
                        link_id: int | None) -> None:
    """The machine's default route goes through this link (or the interface's first link
    on a subnet with a gateway)."""
    link, s = t.ip_links, t.subnets
    query = select(link.c.id, s.c.gateway_ip).join(s, s.c.id == link.c.subnet_id).where(
        link.c.interface_id == interface_id)
    if link_id is not None:
        query = query.where(link.c.id == link_id)
    candidates = [r for r in conn.execute(query.order_by(link.c.id)) if r.gateway_ip]
    if not candidates:
        raise InterfaceError("This interface has no link to a subnet with a gateway.")
    i = t.interfaces
    mine = select(link.c.id).join(i, i.c.id == link.c.interface_id).where(
        i.c.machine_id == machine_id)
    conn.execute(update(link).where(link.c.id.in_(mine)).values(default_gateway=False))
    conn.execute(update(link).where(link.c.id == candidates[0].id).values(default_gateway=True))


def disconnect(conn: Connection, interface_id: int) -> None:
    """No links (their addresses go back to the pool with them), no VLAN: the cable is
    out."""
    conn.execute(delete(t.ip_links).where(t.ip_links.c.interface_id == interface_id))
    conn.execute(update(t.interfaces).where(t.interfaces.c.id == interface_id)
                 .values(vlan_id=None))


def delete_interface(conn: Connection, interface_id: int) -> None:
    row = _row(conn, interface_id)
    children = [c.name for c in conn.execute(select(t.interfaces).where(
        t.interfaces.c.machine_id == row.machine_id)) if row.name in (c.parents or [])]
    if children:
        raise InterfaceError(f"{row.name} is the parent of {', '.join(children)}: delete "
                             f"{'that' if len(children) == 1 else 'those'} first.")
    disconnect(conn, interface_id)
    conn.execute(delete(t.interfaces).where(t.interfaces.c.id == interface_id))
