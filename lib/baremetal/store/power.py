"""Durable power jobs and the power state they leave behind.

A job is queued by the API, claimed by a worker with a lease, and finished by that worker.
A worker that dies lets its lease lapse and the job is claimed again (at most
MAX_ATTEMPTS times). A job is only claimable when it is the oldest unfinished job of its
machine, so one machine's jobs run one at a time and in order, whatever the number of
workers. Finishing is fenced by the worker's name: a worker whose lease lapsed and whose
job was claimed by another cannot overwrite the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.orm import aliased

from baremetal.models import PowerState
from baremetal.power.base import bmc_host

from . import schema as t
from .catalog import record_event
from .engine import Store, utcnow
from .racks import list_racks, racks_for_address

MAX_ATTEMPTS = 3
ACTIONS = ("on", "off", "cycle", "query")
UNFINISHED = ("queued", "running")
_PAST = {"on": "Powered on", "off": "Powered off", "cycle": "Power cycled",
         "query": "Queried power state"}


@dataclass(frozen=True)
class PowerJob:
    id: int
    machine_id: int
    system_id: str
    action: str
    power_type: str
    power_parameters: dict[str, Any]
    attempts: int
    requested_by: str | None


def enqueue_power_job(conn: Connection, machine_id: int, action: str,
                      requested_by: str | None) -> int:
    if action not in ACTIONS:
        raise ValueError(f"Unknown power action '{action}'.")
    return conn.execute(insert(t.power_jobs).values(
        machine_id=machine_id, action=action, status="queued", requested_by=requested_by,
        created=utcnow(), attempts=0)).inserted_primary_key[0]


def get_power_job(conn: Connection, job_id: int):  # type: ignore[no-untyped-def]
    return conn.execute(select(t.power_jobs).where(t.power_jobs.c.id == job_id)).first()


def claim_power_jobs(store: Store, worker: str, limit: int, lease: timedelta,
                     rack: str | None = None) -> list[PowerJob]:
    """Claim up to `limit` jobs. A rack only gets the jobs of BMCs on its subnets, unless
    no live rack is on a BMC's subnet (then any rack may try): so when a rack goes down,
    its BMCs' jobs go to another rack on the same subnet."""
    j, m = t.power_jobs, t.machines
    earlier = aliased(j)
    now = utcnow()
    claimable = or_(j.c.status == "queued",
                    and_(j.c.status == "running", j.c.lease_expires < now))
    # Idle workers ask several times a second: a read decides whether there is anything to
    # claim, so that nothing takes the write lock (SQLite's is database-wide) for nothing.
    with store.read() as conn:
        if conn.execute(select(j.c.id).where(claimable).limit(1)).first() is None:
            return []
    with store.write() as conn:
        _give_up_on_lost_jobs(conn, now)
        first_of_its_machine = ~exists().where(
            earlier.c.machine_id == j.c.machine_id, earlier.c.status.in_(UNFINISHED),
            earlier.c.id < j.c.id)
        query = select(j.c.id, m.c.power_parameters).join(m, m.c.id == j.c.machine_id).where(
            claimable, first_of_its_machine)
        rows = conn.execute(query.order_by(j.c.id).limit(limit if rack is None else limit * 8)
                            .with_for_update(of=j, skip_locked=True)).all()
        if rack is not None:
            racks = list_racks(conn)
            rows = [row for row in rows if rack in (racks_for_address(
                racks, bmc_host(row.power_parameters or {}), now) or {rack})]
        ids = [row.id for row in rows[:limit]]
        if not ids:
            return []
        conn.execute(update(j).where(j.c.id.in_(ids)).values(
            status="running", worker=worker, lease_expires=now + lease,
            attempts=j.c.attempts + 1))
        rows = conn.execute(
            select(j.c.id, j.c.machine_id, j.c.action, j.c.attempts, j.c.requested_by,
                   m.c.system_id, m.c.power_type, m.c.power_parameters)
            .join(m, m.c.id == j.c.machine_id).where(j.c.id.in_(ids)).order_by(j.c.id)
        ).all()
    return [PowerJob(r.id, r.machine_id, r.system_id, r.action, r.power_type,
                     dict(r.power_parameters or {}), r.attempts, r.requested_by) for r in rows]


def _give_up_on_lost_jobs(conn: Connection, now) -> None:  # type: ignore[no-untyped-def]
    j = t.power_jobs
    lost = conn.execute(select(j.c.id, j.c.machine_id, j.c.action).where(
        j.c.status == "running", j.c.lease_expires < now, j.c.attempts >= MAX_ATTEMPTS)).all()
    for row in lost:
        message = (f"Power {row.action} abandoned: the worker running it stopped answering "
                   f"{MAX_ATTEMPTS} times.")
        conn.execute(update(j).where(j.c.id == row.id).values(
            status="failed", error=message, finished=now))
        record_event(conn, row.machine_id, "Power action failed", message, None, "ERROR")


def renew_leases(store: Store, worker: str, job_ids: list[int], lease: timedelta) -> None:
    if not job_ids:
        return
    j = t.power_jobs
    with store.write() as conn:
        conn.execute(update(j).where(j.c.id.in_(job_ids), j.c.worker == worker,
                                     j.c.status == "running")
                     .values(lease_expires=utcnow() + lease))


def finish_power_job(store: Store, job_id: int, worker: str, *, state: PowerState | None,
                     error: str | None) -> bool:
    """Record the outcome; False if this worker no longer holds the job."""
    j, m = t.power_jobs, t.machines
    now = utcnow()
    with store.write() as conn:
        result = conn.execute(
            update(j).where(j.c.id == job_id, j.c.worker == worker, j.c.status == "running")
            .values(status="failed" if error else "done", finished=now, error=error,
                    result=None if state is None else state.value))
        if result.rowcount != 1:
            return False
        job = get_power_job(conn, job_id)
        values: dict[str, Any] = {"power_state_updated": now, "power_error": error}
        if error:
            values["power_state"] = PowerState.ERROR.value
        elif state is not None:
            values["power_state"] = state.value
        conn.execute(update(m).where(m.c.id == job.machine_id).values(**values))
        if error:
            record_event(conn, job.machine_id, f"Power {job.action} failed", error,
                   job.requested_by, "ERROR")
        elif job.action != "query":
            record_event(conn, job.machine_id, _PAST[job.action],
                   f"The machine is {state.value if state else 'unknown'}.", job.requested_by)
    return True


@dataclass(frozen=True)
class PollTarget:
    machine_id: int
    system_id: str
    power_type: str
    power_parameters: dict[str, Any]
    failed_last_time: bool = False


def machines_to_poll(store: Store, power_types: tuple[str, ...], limit: int,
                     rack: str | None = None) -> list[PollTarget]:
    """Machines with a queryable power type, the stalest power state first; for a rack,
    those whose BMC it should reach (the same rule as power jobs)."""
    m = t.machines
    with store.read() as conn:
        rows = conn.execute(
            select(m.c.id, m.c.system_id, m.c.power_type, m.c.power_parameters,
                   m.c.power_error)
            .where(m.c.power_type.in_(power_types))
            .order_by(m.c.power_state_updated.is_not(None), m.c.power_state_updated, m.c.id)
            .limit(limit)).all()
        if rack is not None:
            racks, now = list_racks(conn), utcnow()
            rows = [row for row in rows if rack in (racks_for_address(
                racks, bmc_host(row.power_parameters or {}), now) or {rack})]
    return [PollTarget(r.id, r.system_id, r.power_type, dict(r.power_parameters or {}),
                       r.power_error is not None) for r in rows]


def record_power_states(store: Store,
                        results: list[tuple[int, PowerState, str | None]]) -> None:
    """Write a poll's results in one transaction; a change of error is an event."""
    if not results:
        return
    m = t.machines
    now = utcnow()
    with store.write() as conn:
        previous = dict(conn.execute(select(m.c.id, m.c.power_error).where(
            m.c.id.in_([machine_id for machine_id, _, _ in results]))).all())
        conn.execute(
            update(m).where(m.c.id == bindparam("machine_id")).values(
                power_state=bindparam("state"), power_error=bindparam("error"),
                power_state_updated=now),
            [{"machine_id": machine_id, "state": state.value, "error": error}
             for machine_id, state, error in results])
        for machine_id, _, error in results:
            if error and error != previous.get(machine_id):
                record_event(conn, machine_id, "Power state query failed", error, None, "ERROR")


