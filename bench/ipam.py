"""Picking a free address in a /16, at 100 and at 50,000 addresses taken, on SQLite and
PostgreSQL: the median time of one claim (its own transaction, as a deploy makes it) and
the SQL statements it runs (constant). The taken addresses are the lowest of the subnet,
as the allocator itself hands them out, plus 50 static ones scattered below the top; a
dynamic range and a reserved range sit in the middle.

    python bench/ipam.py [--claims 500]

PostgreSQL comes from BAREMETAL_BENCH_DATABASE_URL, else a throwaway server.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, insert  # noqa: E402

from baremetal.store import Store  # noqa: E402
from baremetal.store import schema as t  # noqa: E402
from baremetal.store.boot import create_ip_range  # noqa: E402
from baremetal.store.ipam import claim_address, subnet_plan  # noqa: E402
from baremetal.store.references import create_subnet, create_vlan, ensure_defaults  # noqa: E402
from bench.scratch import scratch_databases  # noqa: E402

CIDR = "10.20.0.0/16"


def populate(store: Store, taken: int) -> int:
    store.migrate()
    with store.write() as conn:
        ensure_defaults(conn)
        vlan = create_vlan(conn, "bench", 20)
        subnet = create_subnet(conn, CIDR, vlan, gateway_ip="10.20.0.1")
        create_ip_range(conn, subnet, "dynamic", "10.20.200.0", "10.20.203.255")
        create_ip_range(conn, subnet, "reserved", "10.20.210.0", "10.20.210.255")
        plan = subnet_plan(conn, subnet)
    base = int(ipaddress.ip_address("10.20.0.2"))
    excluded = plan.excluded()
    values: list[int] = []
    candidate = base
    while len(values) < taken - 50:
        if not any(start <= candidate <= end for start, end in excluded):
            values.append(candidate)
        candidate += 1
    rng = random.Random(taken)
    top = int(ipaddress.ip_address("10.20.250.0"))
    while len(values) < taken:
        value = rng.randrange(candidate + 1, top)
        if value not in values and not any(s <= value <= e for s, e in excluded):
            values.append(value)
    rows = [{"subnet_id": subnet, "ip": str(ipaddress.ip_address(v)), "ip_int": v,
             "link_id": None, "reserved_id": None} for v in values]
    with store.write() as conn:
        for chunk in range(0, len(rows), 5000):
            conn.execute(insert(t.ip_claims), rows[chunk:chunk + 5000])
    if store.engine.dialect.name == "postgresql":
        with store.write() as conn:
            conn.exec_driver_sql("ANALYZE ip_claims")
    return subnet


def run(store: Store, subnet: int, claims: int) -> tuple[list[float], float]:
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    event.listen(store.engine, "before_cursor_execute", count)
    timings = []
    for _ in range(claims):
        started = time.perf_counter()
        with store.write() as conn:
            claim_address(conn, subnet)
        timings.append((time.perf_counter() - started) * 1000)
    event.remove(store.engine, "before_cursor_execute", count)
    return timings, statements[0] / claims


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=500)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    results = {}
    with scratch_databases(args.databases) as database:
        for kind in args.databases:
            for taken in (100, 50_000):
                with database(kind) as url:
                    store = Store(url)
                    subnet = populate(store, taken)
                    run(store, subnet, 20)  # warm-up
                    timings, per_claim = run(store, subnet, args.claims)
                    median = statistics.median(timings)
                    results[(kind, taken)] = median
                    print(f"{kind:10} {taken:>6} taken: median {median:6.2f} ms  p99 "
                          f"{statistics.quantiles(timings, n=100)[98]:6.2f} ms  "
                          f"{per_claim:.1f} statements per claim", flush=True)
                    store.dispose()
        for kind in args.databases:
            ratio = results[(kind, 50_000)] / results[(kind, 100)]
            print(f"{kind:10} median at 50,000 / at 100 taken: {ratio:.2f}x "
                  "(target <= 2x, and under 20 ms)")


if __name__ == "__main__":
    main()
