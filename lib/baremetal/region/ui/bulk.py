"""Actions on many machines at once, with a result per machine. Each machine is done in
its own transaction through the same operations as the API (the lifecycle table, power
jobs, permissions), so one machine that cannot take the action fails alone, with the
reason the API would give."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from baremetal.lifecycle import InvalidTransition
from baremetal.models import Machine, User
from baremetal.store import Store
from baremetal.store import schema as t
from baremetal.store.catalog import record_event, tag_machines
from baremetal.store.listing import MachineFilter, machine_ids
from baremetal.store.machines import ConcurrentChange, delete_machine, load_machines
from baremetal.store.references import ids_by_name

from ..app import Call
from ..errors import ApiError, BadRequest, Conflict
from ..handlers import lifecycle_ops as ops
from ..params import Params

Operation = Callable[[Call, Any, Machine], None]


def _power(state: str) -> Operation:
    return lambda call, conn, machine: ops.request_power(call, conn, machine, state)


def _admin(operation: Operation) -> Operation:
    def checked(call: Call, conn: Any, machine: Machine) -> None:
        call.require_admin()
        operation(call, conn, machine)
    return checked


def _tag(add: bool) -> Operation:
    def apply(call: Call, conn: Any, machine: Machine) -> None:
        name = call.params.get("tag") or ""
        tag_id = ids_by_name(conn, t.tags, [name]).get(name)
        if tag_id is None:
            raise BadRequest(f"No tag named '{name}'.")
        tag_machines(conn, tag_id, [machine.id] if add else [], [] if add else [machine.id])
    return _admin(apply)


def _place(table, column: str, label: str) -> Operation:  # type: ignore[no-untyped-def]
    def apply(call: Call, conn: Any, machine: Machine) -> None:
        name = call.params.get(label) or ""
        found = ids_by_name(conn, table, [name]).get(name)
        if found is None:
            raise BadRequest(f"No {label} named '{name}'.")
        conn.execute(update(t.machines).where(t.machines.c.id == machine.id)
                     .values(**{column: found}))
        record_event(conn, machine.id, f"Moved to {label} {name}", "", call.viewer.username)
    return _admin(apply)


def _delete(call: Call, conn: Any, machine: Machine) -> None:
    call.require_admin()
    if machine.locked:
        raise Conflict("Can't delete a machine that is locked: unlock it first.")
    delete_machine(conn, machine.id)


ACTIONS: dict[str, tuple[str, Operation]] = {
    "commission": ("Commission", _admin(ops.commission)),
    "test": ("Test", _admin(ops.test)),
    "deploy": ("Deploy", ops.deploy),
    "release": ("Release", ops.release),
    "power_on": ("Power on", _power("on")),
    "power_off": ("Power off", _power("off")),
    "mark_broken": ("Mark broken", ops.mark_broken),
    "mark_fixed": ("Mark fixed", ops.mark_fixed),
    "lock": ("Lock", lambda call, conn, m: ops.set_lock(call, conn, m, True)),
    "unlock": ("Unlock", lambda call, conn, m: ops.set_lock(call, conn, m, False)),
    "add_tag": ("Add tag", _tag(True)),
    "remove_tag": ("Remove tag", _tag(False)),
    "set_zone": ("Set zone", _place(t.zones, "zone_id", "zone")),
    "set_pool": ("Set pool", _place(t.resource_pools, "pool_id", "pool")),
    "delete": ("Delete", _delete),
}


@dataclass(frozen=True)
class Outcome:
    system_id: str
    hostname: str
    ok: bool
    message: str


def selected_ids(store: Store, user: User, system_ids: list[str],
                 matching: MachineFilter | None) -> list[str]:
    """The machines chosen: the ones ticked, or every one matching the filter."""
    if matching is None:
        return system_ids
    with store.read() as conn:
        ids = machine_ids(user, matching)
        return list(conn.execute(select(t.machines.c.system_id)
                                 .where(t.machines.c.id.in_(ids))
                                 .order_by(t.machines.c.hostname)).scalars())


def run(store: Store, user: User, action: str, system_ids: list[str],
        options: dict[str, str], base_url: str = "") -> list[Outcome]:
    if action not in ACTIONS:
        raise BadRequest(f"Unknown action '{action}'.")
    label, operation = ACTIONS[action]
    call = Call(store, user, Params(options.items()), base_url)
    outcomes = []
    for system_id in system_ids:
        hostname = system_id
        try:
            with store.write() as conn:
                found = load_machines(conn, machine_ids(
                    user, MachineFilter(system_ids=(system_id,))))
                if not found:
                    raise BadRequest("No such machine, or not yours to see.")
                hostname = found[0].hostname
                operation(call, conn, found[0])
            outcomes.append(Outcome(system_id, hostname, True, f"{label}: done"))
        except (ApiError, InvalidTransition, ConcurrentChange, LookupError) as error:
            outcomes.append(Outcome(system_id, hostname, False, str(error)))
    return outcomes
