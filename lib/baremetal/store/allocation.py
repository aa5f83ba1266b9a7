"""Allocating a Ready machine that satisfies MAAS constraints, atomically.

The database narrows the candidates with what it can express on the machine row (status,
cpu, memory, architecture, zone, pool, tags, name) and hands them over cheapest first
through the (status, cost, id) index. The constraint matcher, the one authority on what
matches, then checks each candidate whole. Claiming a candidate is a row lock taken with
SKIP LOCKED on PostgreSQL (concurrent callers walk past each other's picks instead of
waiting) and the database write lock (BEGIN IMMEDIATE) on SQLite; the status write is
conditional on the machine still being Ready. No lock is held across anything but SQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, and_, exists, or_, select, tuple_

from baremetal.constraints import (
    AllocationOptions,
    ConstraintError,
    Constraints,
    ConstraintsByType,
    check_references,
    describe,
    match_machine,
)
from baremetal.models import Machine, NodeStatus, User, allocation_cost

from . import schema as t
from .engine import Store
from .machines import load_machines, transition_machines
from .references import ids_by_name

BATCH = 32
KNOWN_ARCHITECTURES = frozenset({
    "amd64/generic", "arm64/generic", "i386/generic", "armhf/generic", "ppc64el/generic",
    "s390x/generic",
})


class NoMatch(LookupError):
    """No Ready machine satisfies the constraints; the API answers 409 with this text."""

    def __init__(self, constraints: Constraints) -> None:
        super().__init__(f"No available machine matches constraints: {describe(constraints)}")


@dataclass(frozen=True)
class Allocation:
    machine: Machine
    constraints_by_type: ConstraintsByType


def allocate_machine(
    store: Store, constraints: Constraints, options: AllocationOptions, user: User
) -> Allocation:
    """Give ``user`` the cheapest Ready machine that matches, or raise NoMatch or
    ConstraintError. With ``options.dry_run`` the answer is the same but nothing changes."""
    transaction = store.read() if options.dry_run else store.write()
    with transaction as conn:
        references = _resolve_references(conn, constraints)
        for candidate in _matches(conn, constraints, references, claim=not options.dry_run):
            if options.dry_run:
                return candidate
            transition_machines(
                conn, [candidate.machine.id], NodeStatus.ALLOCATED,
                username=user.username, comment=options.comment, expected=NodeStatus.READY,
                values={"owner_id": user.id, "agent_name": options.agent_name},
            )
            machine = candidate.machine.model_copy(update={
                "status": NodeStatus.ALLOCATED, "owner": user.username,
                "agent_name": options.agent_name,
            })
            return Allocation(machine, candidate.constraints_by_type)
    raise NoMatch(constraints)


@dataclass(frozen=True)
class _References:
    """The ids of the zones, pools and tags the constraints name: looked up once."""

    zones: dict[str, int]
    pools: dict[str, int]
    tags: dict[str, int]


def _resolve_references(conn: Connection, constraints: Constraints) -> _References:
    c = constraints
    references = _References(
        zones=ids_by_name(conn, t.zones, [*filter(None, [c.zone]), *c.not_in_zone]),
        pools=ids_by_name(conn, t.resource_pools, [*filter(None, [c.pool]), *c.not_in_pool]),
        tags=ids_by_name(conn, t.tags, [*c.tags, *c.not_tags]),
    )
    architectures = set(KNOWN_ARCHITECTURES)
    if c.arch:
        architectures |= set(conn.execute(
            select(t.machines.c.architecture).distinct()
            .where(t.machines.c.architecture.is_not(None))
        ).scalars())
    check_references(c, zones=references.zones, pools=references.pools, tags=references.tags,
                     architectures=architectures)
    return references


def _matches(
    conn: Connection, constraints: Constraints, references: _References, *, claim: bool
) -> Iterator[Allocation]:
    """Matching machines cheapest first, each claimed (locked) before it is yielded.

    When the row conditions decide everything, a candidate is claimed first and loaded
    after, so contending callers never load machines they cannot have. When disks or
    interfaces must be checked, a batch is loaded and matched first, and only a match is
    claimed: locking a machine we would not take could make another caller miss it.
    """
    for batch in _candidate_batches(conn, constraints, references):
        if constraints.needs_devices:
            ordered = load_machines(conn, batch)
        else:
            ordered = (machine for machine_id in batch
                       if not claim or _claim(conn, machine_id)
                       for machine in load_machines(conn, [machine_id]))
        for machine in ordered:
            by_type = match_machine(machine, constraints)
            if by_type is None:
                continue
            if constraints.needs_devices and claim and not _claim(conn, machine.id):
                continue  # another caller holds or took it
            yield Allocation(machine, by_type)


def _candidate_batches(
    conn: Connection, constraints: Constraints, references: _References
) -> Iterator[list[int]]:
    """Ids of machines passing the row conditions, cheapest first, along the
    (status, cost, id) index; batches are small when each candidate is likely to do."""
    m = t.machines
    size = BATCH if constraints.needs_devices else 4
    base = select(m.c.id, m.c.cost).where(*_row_conditions(constraints, references))
    after: tuple[float, int] | None = None
    while True:
        query = base
        if after is not None:
            query = query.where(tuple_(m.c.cost, m.c.id) > tuple_(*after))
        rows = conn.execute(query.order_by(m.c.cost, m.c.id).limit(size)).all()
        if rows:
            yield [row.id for row in rows]
        if len(rows) < size:
            return
        after = (rows[-1].cost, rows[-1].id)


def _claim(conn: Connection, machine_id: int) -> bool:
    m = t.machines
    claimed = conn.execute(
        select(m.c.id).where(m.c.id == machine_id, m.c.status == int(NodeStatus.READY))
        .with_for_update(skip_locked=True)
    ).first()
    return claimed is not None


def _row_conditions(c: Constraints, references: _References) -> list:
    """What SQL can decide on the machine row; a necessary condition, never more."""
    m = t.machines
    conditions = [m.c.status == int(NodeStatus.READY)]
    if c.name is not None:
        hostname = c.name.split(".", 1)[0]
        conditions.append(m.c.hostname == hostname)
    if c.system_id is not None:
        conditions.append(m.c.system_id == c.system_id)
    # Integer columns compare with integers (a float would make PostgreSQL cast every row).
    if c.cpu_count is not None:
        conditions.append(m.c.cpu_count >= math.ceil(c.cpu_count))
    if c.mem is not None:
        conditions.append(m.c.memory >= math.ceil(c.mem))
    if c.cpu_count is not None or c.mem is not None:
        # cost = cpu_count + memory/1024, so the minimums bound it from below: the scan along
        # (status, cost) starts there instead of walking every cheaper machine.
        floor = allocation_cost(c.cpu_count or 0, c.mem or 0) - 1e-6  # type: ignore[arg-type]
        conditions.append(m.c.cost >= floor)
    if c.arch:
        conditions.append(or_(*(
            m.c.architecture == a if "/" in a else m.c.architecture.like(f"{a}/%")
            for a in c.arch
        )))
    zone_ids, pool_ids, tag_ids = references.zones, references.pools, references.tags
    if c.zone is not None:
        conditions.append(m.c.zone_id == zone_ids[c.zone])
    if c.not_in_zone:
        conditions.append(m.c.zone_id.not_in([zone_ids[z] for z in c.not_in_zone]))
    if c.pool is not None:
        conditions.append(m.c.pool_id == pool_ids[c.pool])
    if c.not_in_pool:
        conditions.append(or_(m.c.pool_id.is_(None),
                              m.c.pool_id.not_in([pool_ids[p] for p in c.not_in_pool])))
    mt = t.machine_tags
    for tag in c.tags:
        conditions.append(exists().where(and_(mt.c.machine_id == m.c.id,
                                              mt.c.tag_id == tag_ids[tag])))
    excluded = [tag_ids[tag] for tag in c.not_tags if tag in tag_ids]
    if excluded:
        conditions.append(~exists().where(and_(mt.c.machine_id == m.c.id,
                                               mt.c.tag_id.in_(excluded))))
    return conditions


__all__ = ["Allocation", "ConstraintError", "NoMatch", "allocate_machine"]
