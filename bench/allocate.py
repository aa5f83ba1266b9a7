"""Allocation latency against the pool size, on SQLite and PostgreSQL.

A store of N Ready machines (2 interfaces with links, 2 disks each); 1,000 allocations
with Juju-style constraints (cpu_count, mem, tags, zone). Each allocated machine is
released outside the timed section, so the pool keeps its size. Prints the median and p99
at 100 and at 10,000 machines, and the ratio between them.

    python bench/allocate.py [--sizes 100 10000] [--allocations 1000]

PostgreSQL comes from BAREMETAL_BENCH_DATABASE_URL (a server URL; a scratch database is
created on it), else a throwaway server like the test suite's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, update  # noqa: E402

from baremetal.constraints import AllocationOptions, Constraints  # noqa: E402
from baremetal.models import NodeStatus, User  # noqa: E402
from baremetal.store import Store  # noqa: E402
from baremetal.store import schema as t  # noqa: E402
from baremetal.store.allocation import allocate_machine  # noqa: E402
from baremetal.store.machines import (  # noqa: E402
    NewBlockDevice,
    NewInterface,
    NewLink,
    NewMachine,
    create_machines,
    transition_machines,
)
from baremetal.store.references import (  # noqa: E402
    create_subnet,
    create_tag,
    create_user,
    create_zone,
    ensure_defaults,
)
from bench.scratch import scratch_databases  # noqa: E402

ZONES = ["z0", "z1", "z2", "z3"]
TAGS = ["gpu", "ssd", "bigmem"]


def populate(store: Store, size: int, rng: random.Random) -> User:
    store.migrate()
    with store.write() as conn:
        ensure_defaults(conn)
        for zone in ZONES:
            create_zone(conn, zone)
        for tag in TAGS:
            create_tag(conn, tag)
        vlan = conn.execute(select(t.vlans.c.id)).scalar_one()
        subnet = create_subnet(conn, "10.0.0.0/16", vlan)
        user = create_user(conn, "juju")
    specs = []
    for n in range(size):
        specs.append(NewMachine(
            cpu_count=rng.choice([1, 2, 4, 8, 16]),
            memory=rng.choice([1024, 2048, 4096, 8192, 16384, 65536]),
            zone=ZONES[n % len(ZONES)],
            tags=rng.sample(TAGS, rng.randint(0, 2)),
            interfaces=[
                NewInterface(name="eth0", mac_address=_mac(n, 0), vlan_id=vlan, links=[
                    NewLink(mode="auto", subnet_id=subnet,
                            ip_address=f"10.0.{n // 250}.{n % 250 + 1}")]),
                NewInterface(name="eth1", mac_address=_mac(n, 1), vlan_id=vlan,
                             links=[NewLink(mode="link_up")]),
            ],
            block_devices=[NewBlockDevice(name="sda", size=240 * 10**9, tags=["ssd"]),
                           NewBlockDevice(name="sdb", size=2000 * 10**9, tags=["hdd"])],
        ))
    for start in range(0, size, 2000):
        with store.write() as conn:
            create_machines(conn, specs[start:start + 2000])
    with store.write() as conn:
        ids = conn.execute(select(t.machines.c.id)).scalars().all()
        transition_machines(conn, ids, NodeStatus.COMMISSIONING)
        transition_machines(conn, ids, NodeStatus.READY)
    with store.write() as conn:  # fresh planner statistics, as autovacuum would give
        conn.exec_driver_sql("ANALYZE")
    return user


def _mac(n: int, port: int) -> str:
    return f"52:54:{port:02x}:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"


def juju_constraints(rng: random.Random) -> Constraints:
    return Constraints(
        cpu_count=float(rng.choice([1, 2, 4])),
        mem=float(rng.choice([1024, 2048, 4096])),
        tags=tuple(rng.sample(TAGS[:2], rng.randint(0, 1))),
        zone=rng.choice(ZONES),
    )


def run(store: Store, user: User, allocations: int, rng: random.Random) -> list[float]:
    timings = []
    m = t.machines
    for _ in range(allocations):
        constraints = juju_constraints(rng)
        started = time.perf_counter()
        allocation = allocate_machine(store, constraints, AllocationOptions(agent_name="m"), user)
        timings.append((time.perf_counter() - started) * 1000)
        with store.write() as conn:  # release, untimed, so the pool keeps its size
            transition_machines(conn, [allocation.machine.id], NodeStatus.READY)
            conn.execute(update(m).where(m.c.id == allocation.machine.id)
                         .values(owner_id=None, agent_name=""))
    return timings


def summary(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--allocations", type=int, default=1000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()

    results: dict[tuple[str, int], tuple[float, float]] = {}
    with scratch_databases(args.databases) as database:
        for kind in args.databases:
            for size in args.sizes:
                rng = random.Random(size)
                with database(kind) as url:
                    store = Store(url)
                    started = time.perf_counter()
                    user = populate(store, size, rng)
                    setup = time.perf_counter() - started
                    run(store, user, 20, rng)  # warm-up
                    median, p99 = summary(run(store, user, args.allocations, rng))
                    results[(kind, size)] = (median, p99)
                    print(f"{kind:10} {size:>6} machines: median {median:6.2f} ms  "
                          f"p99 {p99:6.2f} ms   (setup {setup:.1f}s)", flush=True)
                    store.dispose()
        small, large = min(args.sizes), max(args.sizes)
        for kind in args.databases:
            ratio = results[(kind, large)][0] / results[(kind, small)][0]
            print(f"{kind:10} median at {large} / median at {small}: {ratio:.2f}x "
                  f"(target <= 2x, and under 20 ms)")


if __name__ == "__main__":
    main()
