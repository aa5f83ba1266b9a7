"""nodes/{system_id}/interfaces/: a machine's or device's interfaces, shaped as in MAAS
(bonds, VLANs, bridges, links and how each gets its address). A machine's interfaces
change only while it is Ready, Allocated or Broken; a device's always."""

from __future__ import annotations

from flask import Response
from sqlalchemy import select

from baremetal.models import Machine, NodeStatus, NodeType
from baremetal.store import schema as t
from baremetal.store.devices import link_subnet
from baremetal.store.interfaces import (
    InterfaceError,
    create_bond,
    create_bridge,
    create_vlan_interface,
    delete_interface,
    disconnect,
    set_default_gateway,
    unlink,
    update_interface,
)
from baremetal.store.listing import MachineFilter, machine_ids
from baremetal.store.machines import load_machines
from baremetal.store.references import find_subnet

from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..registry import registry
from ..render import Renderer

interfaces = registry.resource("InterfacesHandler", "/nodes/{system_id}/interfaces/",
                               "The network interfaces of a machine or device.")
interface = registry.resource("InterfaceHandler",
                              "/nodes/{system_id}/interfaces/{id}/",
                              "One network interface of a machine or device.")
EDITABLE = {NodeStatus.READY, NodeStatus.ALLOCATED, NodeStatus.BROKEN}
MODES = ("auto", "dhcp", "static", "link_up")


def _node(call, conn, system_id: str) -> Machine:  # type: ignore[no-untyped-def]
    wanted = select(t.machines.c.id).where(
        t.machines.c.system_id == system_id,
        t.machines.c.id.in_(machine_ids(call.viewer, MachineFilter(system_ids=(system_id,))))
        | t.machines.c.id.in_(machine_ids(call.viewer, MachineFilter(
            system_ids=(system_id,), node_type=NodeType.DEVICE))))
    found = load_machines(conn, wanted)
    if not found:
        raise NotFound("No Node matches the given query.")
    return found[0]


def _nic(node: Machine, interface_id: str):  # type: ignore[no-untyped-def]
    for nic in node.interfaces:
        if str(nic.id) == interface_id:
            return nic
    raise NotFound("No Interface matches the given query.")


def _may_change(call, node: Machine, operation: str) -> None:  # type: ignore[no-untyped-def]
    """MAAS's rule: devices always (by their owner); machines by an admin, or the owner of
    an allocated one, and only while Ready, Allocated or Broken."""
    if node.node_type is NodeType.DEVICE:
        return
    user = call.viewer
    if not user.is_superuser and node.owner != user.username:
        raise Forbidden(f"You don't have permission to {operation} interfaces of this "
                        "machine.")
    if node.status not in EDITABLE:
        raise Conflict(f"Cannot {operation} interface because the machine is not Ready, "
                       "Allocated, or Broken.")


def _changed(call, conn, system_id: str, interface_id: int | str):  # type: ignore[no-untyped-def]
    node = _node(call, conn, system_id)
    return Renderer().interface(node, _nic(node, str(interface_id)))


def _ids(call, key: str) -> list[int]:  # type: ignore[no-untyped-def]
    values = [v for value in call.params.getlist(key) for v in value.split(",") if v.strip()]
    try:
        return [int(value) for value in values]
    except ValueError:
        raise BadRequest(f"{key}: interface ids are numbers.") from None


def _edit(call, system_id: str, operation: str, change, interface_id: str | None = None):  # type: ignore[no-untyped-def]
    """Check the node and run `change(conn, node, nic)` in one transaction; the changed
    interface (the one `change` returns the id of, else this one)."""
    with call.store.write() as conn:
        node = _node(call, conn, system_id)
        nic = _nic(node, interface_id) if interface_id is not None else None
        _may_change(call, node, operation)
        try:
            changed = change(conn, node, nic)
        except InterfaceError as error:
            raise BadRequest(str(error)) from None
        return _changed(call, conn, system_id, changed or (nic.id if nic else 0))


@interfaces.action("GET")
def read_interfaces(call, system_id):  # type: ignore[no-untyped-def]
    """Every interface of the node."""
    with call.store.read() as conn:
        node = _node(call, conn, system_id)
    renderer = Renderer()
    return [renderer.interface(node, nic) for nic in node.interfaces]


@interfaces.action("POST", "create_bond")
def create_bond_action(call, system_id):  # type: ignore[no-untyped-def]
    """A bond: name, parents (interface ids), bond_mode (balance-rr, active-backup,
    802.3ad, ...), bond_miimon, bond_lacp_rate, bond_xmit_hash_policy, mac_address, mtu."""
    p = call.params

    def change(conn, node, _):  # type: ignore[no-untyped-def]
        return create_bond(conn, node.id, p.required("name"), _ids(call, "parents"),
                           bond_mode=p.get("bond_mode") or "balance-rr",
                           miimon=p.integer("bond_miimon", 100, minimum=0) or 0,
                           lacp_rate=p.get("bond_lacp_rate") or None,
                           xmit_hash_policy=p.get("bond_xmit_hash_policy") or None,
                           mac_address=p.get("mac_address") or None,
                           mtu=p.integer("mtu", None, minimum=552))
    return _edit(call, system_id, "create bond", change)


@interfaces.action("POST", "create_vlan")
def create_vlan_action(call, system_id):  # type: ignore[no-untyped-def]
    """A VLAN interface: parent (interface id), vlan (VLAN id, on the parent's fabric)."""
    p = call.params

    def change(conn, node, _):  # type: ignore[no-untyped-def]
        parents = _ids(call, "parent")
        if len(parents) != 1:
            raise BadRequest("parent: give one parent interface id.")
        return create_vlan_interface(conn, node.id, parents[0],
                                     p.integer("vlan", None, minimum=1) or 0)
    return _edit(call, system_id, "create VLAN", change)


@interfaces.action("POST", "create_bridge")
def create_bridge_action(call, system_id):  # type: ignore[no-untyped-def]
    """A bridge: name, parent (interface id), bridge_type (standard, ovs), bridge_stp,
    bridge_fd, mtu."""
    p = call.params

    def change(conn, node, _):  # type: ignore[no-untyped-def]
        parents = _ids(call, "parent")
        if len(parents) != 1:
            raise BadRequest("parent: give one parent interface id.")
        return create_bridge(conn, node.id, p.get("name") or f"br-{parents[0]}", parents[0],
                             bridge_type=p.get("bridge_type") or "standard",
                             stp=p.boolean("bridge_stp", False),
                             forward_delay=p.integer("bridge_fd", 15, minimum=0) or 0,
                             mtu=p.integer("mtu", None, minimum=552))
    return _edit(call, system_id, "create bridge", change)


@interface.action("GET")
def read_interface(call, system_id, id):  # type: ignore[no-untyped-def]
    """One interface."""
    with call.store.read() as conn:
        return _changed(call, conn, system_id, id)


@interface.action("PUT")
def update_interface_action(call, system_id, id):  # type: ignore[no-untyped-def]
    """Change name, mtu, tags (comma separated), vlan (id), and a bond's or bridge's
    settings (bond_mode, bond_miimon, ..., bridge_stp)."""
    p = call.params
    params = {key: p.get(key) for key in p if key.startswith(("bond_", "bridge_"))}

    def change(conn, node, nic):  # type: ignore[no-untyped-def]
        tags = p.get("tags")
        update_interface(conn, nic.id, name=p.get("name") or None,
                         mtu=p.integer("mtu", None), vlan_id=p.integer("vlan", None),
                         tags=[x.strip() for x in tags.split(",") if x.strip()]
                         if tags is not None else None, params=params or None)
    return _edit(call, system_id, "update", change, id)


@interface.action("DELETE")
def delete_interface_action(call, system_id, id):  # type: ignore[no-untyped-def]
    """Delete the interface (not one that is the parent of another)."""
    with call.store.write() as conn:
        node = _node(call, conn, system_id)
        nic = _nic(node, id)
        _may_change(call, node, "delete")
        try:
            delete_interface(conn, nic.id)
        except InterfaceError as error:
            raise BadRequest(str(error)) from None
    return Response(status=204)


@interface.action("POST", "link_subnet")
def link_subnet_action(call, system_id, id):  # type: ignore[no-untyped-def]
    """Link the interface to a subnet: mode (auto, dhcp, static, link_up), subnet (id,
    CIDR or name), ip_address (static: checked and claimed; without one, the next free
    address), default_gateway."""
    p = call.params
    mode = (p.get("mode") or "").lower()
    if mode not in MODES:
        raise BadRequest(f"mode: '{p.get('mode') or ''}' is not one of "
                         f"{', '.join(m.upper() for m in MODES)}.")

    def change(conn, node, nic):  # type: ignore[no-untyped-def]
        wanted = p.get("subnet")
        subnet = None
        if wanted:
            subnet = find_subnet(conn, wanted)
            if subnet is None:
                raise BadRequest(f"subnet: no subnet '{wanted}'.")
        elif mode != "link_up":
            raise BadRequest("subnet: required unless mode is LINK_UP.")
        ip = p.get("ip_address") or None
        if ip is not None and mode != "static":
            raise BadRequest("ip_address: only with mode=STATIC.")
        link_subnet(conn, nic.id, mode=mode, subnet_id=subnet.id if subnet else None,
                    ip_address=ip, auto_now=node.node_type is NodeType.DEVICE)
        if p.boolean("default_gateway", False):
            set_default_gateway(conn, node.id, nic.id, None)
    return _edit(call, system_id, "link", change, id)


@interface.action("POST", "unlink_subnet")
def unlink_subnet_action(call, system_id, id):  # type: ignore[no-untyped-def]
    """Remove the link `id` (its address goes back to the pool)."""
    def change(conn, node, nic):  # type: ignore[no-untyped-def]
        unlink(conn, nic.id, call.params.integer("id", None) or 0)
    return _edit(call, system_id, "unlink", change, id)


@interface.action("POST", "set_default_gateway")
def set_default_gateway_action(call, system_id, id):  # type: ignore[no-untyped-def]
    """The node's default route goes through this interface (link_id: which link)."""
    def change(conn, node, nic):  # type: ignore[no-untyped-def]
        set_default_gateway(conn, node.id, nic.id, call.params.integer("link_id", None))
    return _edit(call, system_id, "set the default gateway of", change, id)


@interface.action("POST", "disconnect")
def disconnect_action(call, system_id, id):  # type: ignore[no-untyped-def]
    """Remove every link and the VLAN: the interface is not connected."""
    def change(conn, node, nic):  # type: ignore[no-untyped-def]
        disconnect(conn, nic.id)
    return _edit(call, system_id, "disconnect", change, id)
