"""100 simulated machines commissioned at once, through the real paths: the API queues
the power-on, the power worker drives each virtual BMC over IPMI, each machine fetches
its iPXE config over TFTP and the real image over HTTP from the rack, runs the
commissioning scripts (making its BMC user in-band with ipmitool) and reports through the
metadata API via the rack. Reported: the time from the commission calls until every
machine is Ready, and the peak memory (VmHWM) of the region's processes and of the rack.
Target: under 60 s.

    python bench/commission.py [--machines 100]
    (BAREMETAL_BENCH_DATABASE_URL=postgresql://... for PostgreSQL; SQLite otherwise)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baremetal.sim.farm import SimFarm  # noqa: E402
from baremetal.sim.machine import varied  # noqa: E402
from baremetal.store.machines import NewInterface, NewMachine, create_machines  # noqa: E402
from tests.api import oauth_header  # noqa: E402
from tests.live import start_region, stop_region, store_image  # noqa: E402


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="commission-bench-"))
    cache = Path(os.environ.get("BAREMETAL_BENCH_CACHE", "/var/cache/baremetal-bench"))
    database = factory = None
    if os.environ.get("BAREMETAL_BENCH_DATABASE_URL"):
        from tests.pg import DatabaseFactory

        factory = DatabaseFactory(os.environ["BAREMETAL_BENCH_DATABASE_URL"])
        database = factory.create()
    region = start_region(work, database_url=database)
    store_image(region.store, cache)
    hardware = [varied(n) for n in range(1, args.machines + 1)]

    def call(method: str, path: str) -> object:
        request = urllib.request.Request(region.api + path, method=method, data=b"" if
                                         method == "POST" else None, headers={
                                             "Authorization": oauth_header(region.admin_key)})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)

    try:
        time.sleep(12)  # the rack's first configuration pull syncs the image
        with SimFarm(hardware, "127.0.0.1", region.tftp_port, work / "sims") as farm:
            with region.store.write() as conn:
                system_ids = create_machines(conn, [NewMachine(
                    hostname=f"bench-{n}", power_type="ipmi", power_parameters={
                        "power_address": sim.bmc_address, "power_user": hw.bmc_user,
                        "power_pass": hw.bmc_password},
                    interfaces=[NewInterface(name="eth0", mac_address=hw.pxe_mac)])
                    for n, (sim, hw) in enumerate(zip(farm.machines, hardware, strict=True))])
            started = time.perf_counter()
            for system_id in system_ids:
                call("POST", f"machines/{system_id}/?op=commission&skip_bmc_config=0")
            while True:
                machines = call("GET", "machines/")
                counts: dict[str, int] = {}
                for machine in machines:
                    counts[machine["status_name"]] = counts.get(machine["status_name"], 0) + 1
                if counts.get("Ready") == args.machines:
                    break
                if time.perf_counter() - started > 600 or counts.get("Failed commissioning"):
                    raise RuntimeError(f"commissioning did not finish: {counts}")
                time.sleep(0.5)
            elapsed = time.perf_counter() - started
            memory = {"inventory": all(m["cpu_count"] > 0 and m["memory"] > 0 for m in machines)}
        master = region.process.pid
        processes, queue = [], [master]
        while queue:  # the whole tree under `baremetal up`
            pid = queue.pop()
            processes.append(pid)
            queue.extend(children(pid))
        kinds = {"rack": 0, "power": 0, "region": 0}
        for pid in processes:
            line = cmdline(pid)
            kind = ("rack" if "baremetal.cli rack" in line else
                    "power" if "multiprocessing" in line else "region")
            kinds[kind] += peak_kib(pid)
    finally:
        stop_region(region)
        if factory is not None:
            factory.drop(database)
            factory.close()
    print(f"{args.machines} machines commissioned at once "
          f"({'PostgreSQL' if database else 'SQLite'}): all Ready in {elapsed:.1f} s "
          f"(target < 60 s); inventory recorded: {memory['inventory']}")
    print(f"  peak memory (VmHWM): region (gunicorn master and worker) "
          f"{kinds['region'] / 1024:.0f} MiB; rack {kinds['rack'] / 1024:.0f} MiB; IPMI "
          f"worker processes {kinds['power'] / 1024:.0f} MiB in all")


if __name__ == "__main__":
    main()
