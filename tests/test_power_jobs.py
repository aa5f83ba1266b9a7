"""Durable power jobs in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from baremetal.models import PowerState
from baremetal.store import schema as t
from baremetal.store.machines import NewMachine, create_machines, get_machine, list_events
from baremetal.store.power import (
    MAX_ATTEMPTS,
    claim_power_jobs,
    enqueue_power_job,
    finish_power_job,
    get_power_job,
    machines_to_poll,
    record_power_states,
)

LEASE = timedelta(seconds=30)


def _machines(store, count=2):  # type: ignore[no-untyped-def]
    with store.write() as conn:
        system_ids = create_machines(conn, [
            NewMachine(power_type="ipmi", power_parameters={"power_address": f"10.0.0.{n}"})
            for n in range(count)])
        return [conn.execute(select(t.machines.c.id).where(t.machines.c.system_id == s))
                .scalar_one() for s in system_ids], system_ids


def _enqueue(store, machine_id, action):  # type: ignore[no-untyped-def]
    with store.write() as conn:
        return enqueue_power_job(conn, machine_id, action, "admin")


def test_a_machines_jobs_run_one_at_a_time_in_order(store):
    (a, b), _ = _machines(store)
    first, second = _enqueue(store, a, "on"), _enqueue(store, a, "off")
    other = _enqueue(store, b, "query")
    claimed = claim_power_jobs(store, "w1", 10, LEASE)
    assert [j.id for j in claimed] == [first, other]  # not `second`: `first` is unfinished
    assert claimed[0].power_parameters == {"power_address": "10.0.0.0"}
    assert claim_power_jobs(store, "w2", 10, LEASE) == []
    assert finish_power_job(store, first, "w1", state=PowerState.ON, error=None)
    assert [j.id for j in claim_power_jobs(store, "w2", 10, LEASE)] == [second]


def test_finishing_records_state_and_events(store):
    (a, _), (system_id, _) = _machines(store)
    job = _enqueue(store, a, "on")
    claim_power_jobs(store, "w1", 10, LEASE)
    finish_power_job(store, job, "w1", state=PowerState.ON, error=None)
    failing = _enqueue(store, a, "off")
    claim_power_jobs(store, "w1", 10, LEASE)
    finish_power_job(store, failing, "w1", state=None, error="No answer from the BMC.")
    with store.read() as conn:
        machine = get_machine(conn, system_id)
        events = [(e["type"], e["description"]) for e in list_events(conn, system_id)]
        assert get_power_job(conn, failing).status == "failed"
    assert machine.power_state is PowerState.ERROR
    assert ("Powered on", "The machine is on.") in events
    assert ("Power off failed", "No answer from the BMC.") in events


def test_a_lapsed_lease_is_claimed_again_and_the_old_worker_is_fenced(store):
    (a, _), _ = _machines(store)
    job = _enqueue(store, a, "on")
    claim_power_jobs(store, "dying", 10, timedelta(seconds=-1))  # lease already lapsed
    [again] = claim_power_jobs(store, "healthy", 10, LEASE)
    assert again.id == job and again.attempts == 2
    assert not finish_power_job(store, job, "dying", state=PowerState.OFF, error=None)
    assert finish_power_job(store, job, "healthy", state=PowerState.ON, error=None)


def test_a_job_whose_workers_keep_dying_is_abandoned(store):
    (a, _), (system_id, _) = _machines(store)
    job = _enqueue(store, a, "off")
    for attempt in range(MAX_ATTEMPTS):
        [claimed] = claim_power_jobs(store, f"w{attempt}", 10, timedelta(seconds=-1))
        assert claimed.attempts == attempt + 1
    assert claim_power_jobs(store, "last", 10, LEASE) == []
    with store.read() as conn:
        stored = get_power_job(conn, job)
        events = list_events(conn, system_id)
    assert stored.status == "failed" and "abandoned" in stored.error
    assert events[-1]["type"] == "Power action failed"


def test_concurrent_workers_never_share_a_machine(store):
    ids, _ = _machines(store, 4)
    for machine_id in ids:
        for action in ("on", "off", "query"):
            _enqueue(store, machine_id, action)
    running: dict[int, str] = {}
    violations: list[str] = []
    guard = threading.Lock()

    def worker(name: str) -> None:
        while True:
            jobs = claim_power_jobs(store, name, 2, LEASE)
            if not jobs:
                with store.read() as conn:
                    left = conn.execute(select(t.power_jobs.c.id).where(
                        t.power_jobs.c.status != "done")).first()
                if left is None:
                    return
                continue
            for job in jobs:
                with guard:
                    if job.machine_id in running:
                        violations.append(f"{name} and {running[job.machine_id]}")
                    running[job.machine_id] = name
            for job in jobs:
                assert finish_power_job(store, job.id, name, state=PowerState.ON, error=None)
                with guard:
                    running.pop(job.machine_id)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert violations == []
    with store.read() as conn:
        statuses = conn.execute(select(t.power_jobs.c.status)).scalars().all()
    assert statuses == ["done"] * 12


def test_poll_targets_oldest_first_and_results_recorded(store):
    (a, b), (sa, sb) = _machines(store)
    record_power_states(store, [(a, PowerState.ON, None)])
    targets = machines_to_poll(store, ("ipmi",), 10)
    assert [x.machine_id for x in targets] == [b, a]  # never polled first
    record_power_states(store, [(b, PowerState.ERROR, "No answer"), (a, PowerState.OFF, None)])
    record_power_states(store, [(b, PowerState.ERROR, "No answer")])
    with store.read() as conn:
        assert get_machine(conn, sa).power_state is PowerState.OFF
        assert get_machine(conn, sb).power_state is PowerState.ERROR
        failures = [e for e in list_events(conn, sb) if e["type"] == "Power state query failed"]
    assert len(failures) == 1  # an unchanged failure is not repeated
