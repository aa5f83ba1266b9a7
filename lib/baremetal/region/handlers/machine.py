"""machines/<system_id>/: one machine and what can be done to it."""

from __future__ import annotations

import struct
import time

from flask import Response, current_app
from sqlalchemy import select

from baremetal.power import driver_class
from baremetal.store import schema as t
from baremetal.store.machines import delete_machine, update_machine
from baremetal.store.power import enqueue_power_job, get_power_job
from baremetal.store.references import ids_by_name

from ..errors import BadRequest, Conflict, ServiceUnavailable
from ..registry import registry
from ..render import Renderer
from . import lifecycle_ops as ops
from .machines import (
    MachineForm,
    power_parameters,
    validated_power_parameters,
    visible_machine,
)

machine = registry.resource("MachineHandler", "/machines/{system_id}/", "Manage one machine.")


def _render(call, system_id: str) -> dict:  # type: ignore[no-untyped-def]
    with call.store.read() as conn:
        return Renderer().machine(visible_machine(call, conn, system_id))


def _operation(name: str, doc: str, apply, *, method: str = "POST", admin: bool = False):  # type: ignore[no-untyped-def]
    """Register an op that changes one machine in one transaction and returns it."""

    def action(call, system_id):  # type: ignore[no-untyped-def]
        with call.store.write() as conn:
            apply(call, conn, visible_machine(call, conn, system_id))
        return _render(call, system_id)

    action.__doc__ = doc
    machine.action(method, name, admin=admin)(action)


@machine.action("GET")
def read_machine(call, system_id):  # type: ignore[no-untyped-def]
    """The machine."""
    return _render(call, system_id)


@machine.action("PUT", admin=True)
def update_machine_action(call, system_id):  # type: ignore[no-untyped-def]
    """Change hostname, description, architecture, cpu_count, memory, zone, pool,
    power_type and power_parameters_*."""
    p = call.params
    form = MachineForm.model_validate({k: p.get(k) for k in MachineForm.model_fields
                                       if k in p and k != "mac_addresses"})
    given = form.model_dump(include={k for k in MachineForm.model_fields if k in p})
    with call.store.write() as conn:
        found = visible_machine(call, conn, system_id)
        values = {k: v for k, v in given.items() if k not in ("zone", "pool")}
        if "zone" in given:
            zones = ids_by_name(conn, t.zones, [given["zone"]])
            if given["zone"] not in zones:
                raise BadRequest(f"zone: No such zone: '{given['zone']}'.")
            values["zone_id"] = zones[given["zone"]]
        if "pool" in given:
            pools = ids_by_name(conn, t.resource_pools, [given["pool"]])
            if given["pool"] not in pools:
                raise BadRequest(f"pool: No such pool: '{given['pool']}'.")
            values["pool_id"] = pools[given["pool"]]
        parameters = power_parameters(p)
        if parameters or "power_type" in given:
            current = conn.execute(select(t.machines.c.power_parameters).where(
                t.machines.c.id == found.id)).scalar_one() or {}
            power_type = given.get("power_type", found.power_type)
            merged = {**current, **parameters} if power_type == found.power_type else parameters
            values["power_parameters"] = validated_power_parameters(power_type, merged)
        if values:
            update_machine(conn, found.id, **values)
    return _render(call, system_id)


@machine.action("DELETE", admin=True)
def delete_machine_action(call, system_id):  # type: ignore[no-untyped-def]
    """Delete the machine."""
    with call.store.write() as conn:
        found = visible_machine(call, conn, system_id)
        if found.locked:
            raise Conflict("Can't delete a machine that is locked: unlock it first.")
        delete_machine(conn, found.id)
    return Response(status=204)


_operation("deploy", "Deploy: user_data (base64), distro_series, hwe_kernel, comment. A Ready "
           "machine is allocated to the caller first.", ops.deploy)
_operation("release", "Release: comment, erase, secure_erase, quick_erase. Back to Ready.",
           ops.release)
_operation("commission", "Commission: enable_ssh, skip_bmc_config, skip_networking, "
           "skip_storage, commissioning_scripts, testing_scripts.", ops.commission, admin=True)
_operation("test", "Test (burn-in): testing_scripts (comma-separated; default: all of "
           "cpu-stress, memory-check, disk-read, network-rack), comment.", ops.test,
           admin=True)
_operation("abort", "Abort the current operation (commissioning, deploying, testing, "
           "disk erasing).", ops.abort)
_operation("mark_broken", "Mark the machine broken: comment.", ops.mark_broken)
_operation("mark_fixed", "Mark a broken machine fixed: comment.", ops.mark_fixed)
_operation("lock", "Lock a deployed machine against changes: comment.",
           lambda call, conn, m: ops.set_lock(call, conn, m, True))
_operation("unlock", "Unlock the machine: comment.",
           lambda call, conn, m: ops.set_lock(call, conn, m, False))
_operation("set_storage_layout", "Storage layout: storage_layout (flat, lvm, blank), "
           "boot_size, root_size, root_device.", ops.set_storage_layout)
_operation("power_on", "Power the machine on: user_data, comment.",
           lambda call, conn, m: ops.request_power(call, conn, m, "on"))
_operation("power_off", "Power the machine off: stop_mode (soft or hard), comment.",
           lambda call, conn, m: ops.request_power(call, conn, m, "off"))


@machine.action("GET", "power_parameters", admin=True)
def read_machine_power_parameters(call, system_id):  # type: ignore[no-untyped-def]
    """This machine's power parameters, secrets included (admins only)."""
    with call.store.read() as conn:
        found = visible_machine(call, conn, system_id)
        return dict(conn.execute(select(t.machines.c.power_parameters).where(
            t.machines.c.id == found.id)).scalar() or {})


@machine.action("GET", "query_power_state")
def query_power_state(call, system_id):  # type: ignore[no-untyped-def]
    """Ask the BMC now and wait (bounded) for the answer: {"state": on|off|unknown|error}."""
    with call.store.write() as conn:
        found = visible_machine(call, conn, system_id)
        if not found.power_type:
            raise ServiceUnavailable("This machine has no power type: set power_type and "
                                     "power_parameters first.")
        if not driver_class(found.power_type).queryable:
            return {"state": found.power_state.value}
        job_id = enqueue_power_job(conn, found.id, "query", call.viewer.username)
    timeout = current_app.config.get("POWER_QUERY_TIMEOUT", 30.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with call.store.read() as conn:
            job = get_power_job(conn, job_id)
        if job.status == "done":
            return {"state": job.result}
        if job.status == "failed":
            raise ServiceUnavailable(f"Failed to query the power state: {job.error}")
        time.sleep(0.05)
    raise ServiceUnavailable(f"No power worker answered within {timeout:.0f}s "
                             "(is a rack controller running?).")


@machine.action("POST", "set_owner_data")
def set_owner_data(call, system_id):  # type: ignore[no-untyped-def]
    """Set key=value pairs on the machine's owner data; an empty value deletes the key."""
    with call.store.write() as conn:
        found = visible_machine(call, conn, system_id)
        ops.require_owner_or_admin(call, found, "change owner data of")
        data = dict(found.owner_data)
        for key in call.params:
            value = call.params.get(key) or ""
            if value == "":
                data.pop(key, None)
            else:
                data[key] = value
        update_machine(conn, found.id, owner_data=data)
    return _render(call, system_id)


@machine.action("GET", "details")
def details(call, system_id):  # type: ignore[no-untyped-def]
    """Commissioning output (lshw, lldp) as BSON, as MAAS returns it."""
    with call.store.read() as conn:
        found = visible_machine(call, conn, system_id)
    info = found.hardware_info or {}
    fields = {name: str(info.get(name, "")).encode() for name in ("lshw", "lldp")}
    return Response(_bson_binary_document(fields), mimetype="application/bson")


def _bson_binary_document(fields: dict[str, bytes]) -> bytes:
    """A BSON document whose values are all binary (type 0x05, subtype 0)."""
    body = b"".join(b"\x05" + name.encode() + b"\x00" + struct.pack("<i", len(value)) + b"\x00"
                    + value for name, value in fields.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"
