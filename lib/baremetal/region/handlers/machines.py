"""machines/: listing with filters, creating, allocating, bulk release, power parameters."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import select

from baremetal.constraints import parse_allocation
from baremetal.models import Machine, NodeStatus
from baremetal.power import DRIVERS, parse_settings
from baremetal.power.registry import validation_messages
from baremetal.store import schema as t
from baremetal.store.allocation import KNOWN_ARCHITECTURES, allocate_machine
from baremetal.store.listing import MachineFilter, machine_ids
from baremetal.store.machines import NewInterface, NewMachine, create_machines, load_machines
from baremetal.store.references import ids_by_name

from ..bulk import gc_paused
from ..errors import BadRequest, Forbidden, NotFound
from ..registry import registry
from ..render import Renderer
from .lifecycle_ops import release_machines

machines = registry.resource("MachinesHandler", "/machines/", "Manage the machines.")

POWER_TYPES = ("", *DRIVERS)
_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.IGNORECASE)
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def render_machines(found: list[Machine]) -> list[dict]:
    renderer = Renderer()
    return [renderer.machine(m) for m in found]


def list_machines(call, where: MachineFilter) -> list[dict]:  # type: ignore[no-untyped-def]
    """Load and render the machines the caller may see: the listing's hot path."""
    with gc_paused(), call.store.read() as conn:
        return render_machines(load_machines(conn, machine_ids(call.viewer, where)))


def machine_filter(params) -> MachineFilter:  # type: ignore[no-untyped-def]
    statuses = []
    for value in params.getlist("status"):
        try:
            statuses.append(NodeStatus(int(value)) if value.isdigit()
                            else NodeStatus.from_label(value.replace("_", " ")))
        except ValueError:
            raise BadRequest(f"status: unknown status '{value}'.") from None
    return MachineFilter(
        system_ids=tuple(params.getlist("id")), hostnames=tuple(params.getlist("hostname")),
        mac_addresses=tuple(params.getlist("mac_address")), tags=tuple(params.getlist("tags")),
        agent_name=params.get("agent_name"), zones=tuple(params.getlist("zone")),
        pools=tuple(params.getlist("pool")), domains=tuple(params.getlist("domain")),
        statuses=tuple(statuses), owners=tuple(params.getlist("owner")),
    )


@machines.action("GET")
def read_machines(call):  # type: ignore[no-untyped-def]
    """Machines the caller may see, filtered by id, hostname, mac_address, tags, agent_name,
    zone, pool, domain, status, owner (each repeatable)."""
    return list_machines(call, machine_filter(call.params))


def power_parameters(params) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {key.removeprefix("power_parameters_"): params.get(key)
            for key in params if key.startswith("power_parameters_")}


def validated_power_parameters(power_type: str, parameters: dict[str, str]) -> dict[str, str]:
    """The parameters as given, once the driver's settings schema accepts them (400 naming
    the field otherwise). Stored as strings, as MAAS keeps them."""
    if not power_type:
        if parameters:
            raise BadRequest("power_parameters: set a power_type to give power parameters.")
        return {}
    try:
        parse_settings(power_type, parameters)
    except ValidationError as error:
        raise BadRequest(validation_messages(error)) from None
    return {k: v for k, v in parameters.items() if v is not None}


class MachineForm(BaseModel):
    """What `POST machines/` accepts; errors name the field."""

    hostname: str | None = None
    architecture: str = "amd64/generic"
    mac_addresses: list[str] = Field(default_factory=list)
    power_type: str = ""
    zone: str = "default"
    pool: str | None = "default"
    description: str = ""
    cpu_count: int = Field(0, ge=0)
    memory: int = Field(0, ge=0)

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is not None and not _HOSTNAME.match(value):
            raise ValueError("must be letters, digits and hyphens (an RFC 1123 label)")
        return value

    @field_validator("architecture")
    @classmethod
    def _architecture(cls, value: str) -> str:
        value = value if "/" in value else f"{value}/generic"
        if value not in KNOWN_ARCHITECTURES:
            raise ValueError(f"'{value}' is not a known architecture "
                             f"({', '.join(sorted(KNOWN_ARCHITECTURES))})")
        return value

    @field_validator("mac_addresses")
    @classmethod
    def _macs(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _MAC.match(value):
                raise ValueError(f"'{value}' is not a MAC address")
        return [v.lower().replace("-", ":") for v in values]

    @field_validator("power_type")
    @classmethod
    def _power_type(cls, value: str) -> str:
        if value not in POWER_TYPES:
            raise ValueError(f"'{value}' is not a power type ({', '.join(POWER_TYPES[1:])})")
        return value


@machines.action("POST", admin=True)
def create_machine(call):  # type: ignore[no-untyped-def]
    """Add a machine: hostname, architecture, mac_addresses, power_type,
    power_parameters_*, zone, pool, description. It starts New."""
    p = call.params
    form = MachineForm.model_validate({
        key: (p.getlist(key) if key == "mac_addresses" else p.get(key))
        for key in MachineForm.model_fields if key in p
    })
    with call.store.write() as conn:
        if form.zone not in ids_by_name(conn, t.zones, [form.zone]):
            raise BadRequest(f"zone: No such zone: '{form.zone}'.")
        if form.pool and form.pool not in ids_by_name(conn, t.resource_pools, [form.pool]):
            raise BadRequest(f"pool: No such pool: '{form.pool}'.")
        taken = conn.execute(select(t.interfaces.c.mac_address)
                             .where(t.interfaces.c.mac_address.in_(form.mac_addresses))).first()
        if taken is not None:
            raise BadRequest(f"mac_addresses: {taken.mac_address} is already in use.")
        if form.hostname and conn.execute(select(t.machines.c.id).where(
                t.machines.c.hostname == form.hostname)).first():
            raise BadRequest(f"hostname: '{form.hostname}' is already in use.")
        [system_id] = create_machines(conn, [NewMachine(
            hostname=form.hostname, architecture=form.architecture, cpu_count=form.cpu_count,
            memory=form.memory, zone=form.zone, pool=form.pool, description=form.description,
            power_type=form.power_type,
            power_parameters=validated_power_parameters(form.power_type, power_parameters(p)),
            interfaces=[NewInterface(name=f"eth{n}", mac_address=mac)
                        for n, mac in enumerate(form.mac_addresses)],
        )], username=call.viewer.username)
        found = load_machines(conn, machine_ids(call.viewer, MachineFilter(
            system_ids=(system_id,))))
    return render_machines(found)[0]


@machines.action("POST", "allocate")
def allocate(call):  # type: ignore[no-untyped-def]
    """Allocate the cheapest Ready machine matching MAAS constraints (name, system_id, arch,
    cpu_count, mem, tags, not_tags, zone, not_in_zone, pool, not_in_pool, subnets,
    not_subnets, fabrics, not_fabrics, storage, interfaces); agent_name, comment, dry_run."""
    constraints, options = parse_allocation(call.params.data)
    allocation = allocate_machine(call.store, constraints, options, call.viewer)
    data = Renderer().machine(allocation.machine)
    data["constraints_by_type"] = allocation.constraints_by_type
    return data


@machines.action("POST", "release")
def release_many(call):  # type: ignore[no-untyped-def]
    """Release several machines (machines=, repeated); returns their ids."""
    system_ids = call.params.getlist("machines")
    if not system_ids:
        raise BadRequest("machines: give at least one system_id.")
    with call.store.read() as conn:
        rows = conn.execute(select(t.machines.c.system_id, t.machines.c.owner_id).where(
            t.machines.c.system_id.in_(system_ids),
            t.machines.c.node_type == 0)).all()
    unknown = sorted(set(system_ids) - {r.system_id for r in rows})
    if unknown:
        raise BadRequest(f"Unknown machine(s): {', '.join(unknown)}.")
    viewer = call.viewer
    if not viewer.is_superuser:
        denied = sorted(r.system_id for r in rows if r.owner_id != viewer.id)
        if denied:
            raise Forbidden(f"You don't have the required permission to release the "
                            f"following machine(s): {', '.join(denied)}.")
    release_machines(call, list(dict.fromkeys(system_ids)), comment=call.params.get("comment"))
    return list(dict.fromkeys(system_ids))


@machines.action("GET", "power_parameters", admin=True)
def read_power_parameters(call):  # type: ignore[no-untyped-def]
    """Power parameters of machines (id=, repeated; all when none), admins only."""
    ids = call.params.getlist("id")
    query = select(t.machines.c.system_id, t.machines.c.power_parameters).where(
        t.machines.c.node_type == 0)
    if ids:
        query = query.where(t.machines.c.system_id.in_(ids))
    with call.store.read() as conn:
        return {row.system_id: dict(row.power_parameters or {}) for row in conn.execute(query)}


def visible_machine(call, conn, system_id: str) -> Machine:  # type: ignore[no-untyped-def]
    found = load_machines(conn, machine_ids(call.viewer, MachineFilter(system_ids=(system_id,))))
    if not found:
        raise NotFound("No Machine matches the given query.")
    return found[0]
