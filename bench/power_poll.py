"""One full power poll of 1,000 BMCs, 5% of them dead, against Debian's ipmitool run one
after another.

Virtual BMCs are spread over several processes (select() limits one to ~1,000 sockets);
a dead BMC is a loopback UDP port nothing listens on. The poll goes through the product's
path: machines in the store, the power worker's poller, the ipmi driver's process pool,
results written back. Reported: the time of a full poll (the first, which also starts the
driver's worker processes, and a second), how many machines ended `error`, and the time of
`ipmitool ... chassis power status` over 50 of the same machines one after another,
extrapolated to 1,000. Targets: a full poll under 10 s and at least 10x the ipmitool loop.

    python bench/power_poll.py [--machines 1000] [--dead-percent 5] [--bmc-processes 4]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from baremetal.power.worker import PowerWorker, StoreJobSource  # noqa: E402
from baremetal.store import Store  # noqa: E402
from baremetal.store import schema as t  # noqa: E402
from baremetal.store.machines import NewMachine, create_machines  # noqa: E402
from baremetal.store.references import ensure_defaults  # noqa: E402
from tests.live import free_port, start_bmcs  # noqa: E402

USER, PASSWORD = "admin", "bench-pw"


def ipmitool_status(port: int) -> float:
    started = time.perf_counter()
    subprocess.run(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port),
                    "-U", USER, "-P", PASSWORD, "chassis", "power", "status"],
                   capture_output=True, timeout=120)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--dead-percent", type=float, default=5.0)
    parser.add_argument("--bmc-processes", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sample", type=int, default=50)
    args = parser.parse_args()

    dead_count = round(args.machines * args.dead_percent / 100)
    live_count = args.machines - dead_count
    per_process = -(-live_count // args.bmc_processes)
    farms, live_ports, farm_log = [], [], []
    for _ in range(args.bmc_processes):
        count = min(per_process, live_count - len(live_ports))
        process, ports = start_bmcs(count, USER, PASSWORD, farm_log)
        farms.append(process)
        live_ports += ports
    dead_ports = [free_port() for _ in range(dead_count)]
    rng = random.Random(5)
    ports = live_ports + dead_ports
    rng.shuffle(ports)
    dead = set(dead_ports)

    try:
        with tempfile.TemporaryDirectory() as scratch:
            store = Store(f"sqlite:///{scratch}/bench.db")
            store.migrate()
            with store.write() as conn:
                ensure_defaults(conn)
                create_machines(conn, [NewMachine(
                    hostname=f"node{n:04d}", power_type="ipmi", power_parameters={
                        "power_address": f"127.0.0.1:{port}", "power_user": USER,
                        "power_pass": PASSWORD}) for n, port in enumerate(ports)])
            worker = PowerWorker(StoreJobSource(store, "bench"), poll_interval=None,
                                 poll_batch=args.machines, poll_concurrency=args.concurrency)
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                results = worker.poll_once()
                timings.append(time.perf_counter() - started)
            with store.read() as conn:
                errors = conn.execute(select(func.count()).where(
                    t.machines.c.power_state == "error")).scalar_one()
                errored_ports = {
                    int(params["power_address"].rsplit(":", 1)[1])
                    for params in conn.execute(select(t.machines.c.power_parameters).where(
                        t.machines.c.power_state == "error")).scalars()}
            store.dispose()
        assert len(results) == args.machines

        sample = rng.sample(ports, args.sample)
        sample_dead = sum(1 for port in sample if port in dead)
        started = time.perf_counter()
        for port in sample:
            ipmitool_status(port)
        sequential = time.perf_counter() - started
        extrapolated = sequential * args.machines / args.sample
    finally:
        for process in farms:
            process.kill()
            process.wait()

    print(f"BMCs: {live_count} live in {args.bmc_processes} processes, {dead_count} dead "
          f"(ports with no BMC)")
    print(f"full poll of {args.machines}: first {timings[0]:.2f} s (starts the driver's "
          f"worker processes), second {timings[1]:.2f} s (target < 10 s)")
    print(f"machines marked error: {errors} (the dead ones exactly: "
          f"{errored_ports == dead})")
    print(f"ipmitool one after another over {args.sample} ({sample_dead} dead): "
          f"{sequential:.1f} s, extrapolated to {args.machines}: {extrapolated:.0f} s")
    print(f"speed-up of the poll over the ipmitool loop: {extrapolated / timings[1]:.0f}x "
          f"(target >= 10x)")
    dropped = sum(1 for line in farm_log if "dropped a packet" in line)
    print(f"packets the virtual BMCs dropped: {dropped}")


if __name__ == "__main__":
    main()
