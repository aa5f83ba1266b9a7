"""4 processes x 8 threads race for 40 Ready machines: exactly 40 allocations succeed."""

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from sqlalchemy import func, select

from baremetal.constraints import AllocationOptions, Constraints
from baremetal.models import NodeStatus
from baremetal.store import Store
from baremetal.store import schema as t
from baremetal.store.allocation import NoMatch, allocate_machine
from baremetal.store.machines import NewMachine
from baremetal.store.references import create_user, get_user

from .conftest import add_ready

PROCESSES = 4
THREADS = 8
MACHINES = 40


def _allocate_until_exhausted(url: str, username: str) -> tuple[list[str], int]:
    """One process: THREADS threads each allocating until the pool says no match."""
    store = Store(url, pool_size=THREADS, max_overflow=0)
    with store.read() as conn:
        user = get_user(conn, username)
    start = threading.Barrier(THREADS)

    def worker(_: int) -> tuple[list[str], int]:
        taken: list[str] = []
        start.wait()
        while True:
            try:
                allocation = allocate_machine(
                    store, Constraints(cpu_count=1), AllocationOptions(agent_name=username), user
                )
            except NoMatch:
                return taken, 1
            taken.append(allocation.machine.system_id)

    with ThreadPoolExecutor(THREADS) as threads:
        results = list(threads.map(worker, range(THREADS)))
    store.dispose()
    return [s for taken, _ in results for s in taken], sum(n for _, n in results)


def test_concurrent_allocation_never_hands_out_a_machine_twice(store):
    add_ready(store, [NewMachine(cpu_count=1 + i % 4, memory=1024 * (1 + i % 3))
                      for i in range(MACHINES)])
    with store.write() as conn:
        for n in range(PROCESSES):
            create_user(conn, f"user{n}")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as processes:
        futures = [processes.submit(_allocate_until_exhausted, store.url, f"user{n}")
                   for n in range(PROCESSES)]
        results = [f.result(timeout=300) for f in futures]

    taken = [system_id for ids, _ in results for system_id in ids]
    no_match = sum(n for _, n in results)
    assert len(taken) == MACHINES
    assert len(set(taken)) == MACHINES, Counter(taken).most_common(3)
    assert no_match == PROCESSES * THREADS  # every caller ended on "no match"

    m = t.machines
    with store.read() as conn:
        rows = conn.execute(
            select(m.c.system_id, m.c.status, m.c.owner_id, m.c.agent_name)
        ).all()
        allocation_events = conn.execute(
            select(func.count()).select_from(t.events)
            .where(t.events.c.to_status == int(NodeStatus.ALLOCATED))
        ).scalar_one()
    assert all(r.status == NodeStatus.ALLOCATED and r.owner_id is not None for r in rows)
    # The owner recorded is the process that was told it got the machine.
    owner_by_machine = {r.system_id: r.agent_name for r in rows}
    for n, (ids, _) in enumerate(results):
        assert all(owner_by_machine[s] == f"user{n}" for s in ids)
    assert allocation_events == MACHINES
