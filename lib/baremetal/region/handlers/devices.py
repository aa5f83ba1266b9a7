"""devices/: what Juju registers its containers as (their interfaces: interfaces.py)."""

from __future__ import annotations

from flask import Response
from sqlalchemy import select

from baremetal.models import NodeType
from baremetal.store import schema as t
from baremetal.store.devices import create_device
from baremetal.store.listing import MachineFilter, machine_ids
from baremetal.store.machines import delete_machine, load_machines

from ..errors import BadRequest, NotFound
from ..registry import registry
from ..render import Renderer
from .machines import MachineForm

devices = registry.resource("DevicesHandler", "/devices/", "Manage devices.")
device = registry.resource("DeviceHandler", "/devices/{system_id}/", "One device.")


def _devices(call, conn, **where):  # type: ignore[no-untyped-def]
    ids = machine_ids(call.viewer, MachineFilter(node_type=NodeType.DEVICE, **where))
    found = load_machines(conn, ids)
    parents = dict(conn.execute(
        select(t.machines.c.id, t.machines.c.system_id).where(t.machines.c.id.in_(
            select(t.machines.c.parent_id).where(t.machines.c.id.in_(ids))))).all())
    parent_of = dict(conn.execute(
        select(t.machines.c.id, t.machines.c.parent_id).where(t.machines.c.id.in_(ids))).all())
    renderer = Renderer()
    return [renderer.device(d, parents.get(parent_of.get(d.id))) for d in found]


@devices.action("GET")
def read_devices(call):  # type: ignore[no-untyped-def]
    """The devices the caller may see."""
    with call.store.read() as conn:
        return _devices(call, conn)


@devices.action("POST")
def create_device_action(call):  # type: ignore[no-untyped-def]
    """Create a device: mac_addresses (repeated), hostname, parent (a machine's system_id)."""
    p = call.params
    form = MachineForm.model_validate({"hostname": p.get("hostname"),
                                       "mac_addresses": p.getlist("mac_addresses")})
    if not form.mac_addresses:
        raise BadRequest("mac_addresses: give at least one MAC address.")
    with call.store.write() as conn:
        parent_id = None
        if p.get("parent"):
            row = conn.execute(select(t.machines.c.id).where(
                t.machines.c.system_id == p.get("parent"),
                t.machines.c.node_type == int(NodeType.MACHINE))).first()
            if row is None:
                raise BadRequest(f"parent: no machine '{p.get('parent')}'.")
            parent_id = row.id
        taken = conn.execute(select(t.interfaces.c.mac_address).where(
            t.interfaces.c.mac_address.in_(form.mac_addresses))).first()
        if taken is not None:
            raise BadRequest(f"mac_addresses: {taken.mac_address} is already in use.")
        system_id = create_device(conn, hostname=form.hostname,
                                  mac_addresses=form.mac_addresses, parent_id=parent_id,
                                  owner_id=call.viewer.id, username=call.viewer.username)
        return _devices(call, conn, system_ids=(system_id,))[0]


def _one_device(call, conn, system_id):  # type: ignore[no-untyped-def]
    found = _devices(call, conn, system_ids=(system_id,))
    if not found:
        raise NotFound("No Device matches the given query.")
    return found[0]


@device.action("GET")
def read_device(call, system_id):  # type: ignore[no-untyped-def]
    """One device."""
    with call.store.read() as conn:
        return _one_device(call, conn, system_id)


@device.action("DELETE")
def delete_device(call, system_id):  # type: ignore[no-untyped-def]
    """Delete the device."""
    with call.store.write() as conn:
        _one_device(call, conn, system_id)
        row = conn.execute(select(t.machines.c.id).where(
            t.machines.c.system_id == system_id)).one()
        delete_machine(conn, row.id)
    return Response(status=204)
