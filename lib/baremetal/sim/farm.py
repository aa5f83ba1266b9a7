"""A rack of simulated machines: each with its virtual BMC (one pyghmi loop serves them
all) and its PXE behaviour. `python -m baremetal.sim.farm --count N --tftp-port P
[--power-on]` runs one and prints a JSON line with each machine's MAC and BMC address."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from .bmc import serve_forever
from .machine import Hardware, SimMachine, varied


class SimFarm:
    def __init__(self, hardware: list[Hardware], rack_host: str, tftp_port: int,
                 workdir: Path | None = None) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="baremetal-sim-"))
        self.machines = [SimMachine(hw, rack_host, tftp_port, self.workdir / f"m{n}")
                         for n, hw in enumerate(hardware)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=serve_forever, args=(self._stop,), daemon=True)

    def __enter__(self) -> SimFarm:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def power_on_all(self) -> None:
        """Someone presses every power button (how new machines enlist)."""
        for machine in self.machines:
            machine.bmc.power_on()

    def describe(self) -> list[dict[str, str]]:
        return [{"mac": m.hardware.pxe_mac, "bmc": m.bmc_address} for m in self.machines]

    def close(self) -> None:
        for machine in self.machines:
            machine.stop()
        self._stop.set()
        self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--first", type=int, default=1, help="index of the first machine")
    parser.add_argument("--rack-host", default="127.0.0.1")
    parser.add_argument("--tftp-port", type=int, default=69)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--power-on", action="store_true",
                        help="power every machine on at start: they PXE boot and enlist")
    parser.add_argument("--commission", metavar="API_URL", default=None,
                        help="once enlisted, commission them through this API "
                             "(key in $BAREMETAL_API_KEY)")
    args = parser.parse_args(argv)
    hardware = [varied(args.first + n) for n in range(args.count)]
    with SimFarm(hardware, args.rack_host, args.tftp_port, args.workdir) as farm:
        print(json.dumps({"machines": farm.describe()}), flush=True)
        if args.power_on:
            farm.power_on_all()
        if args.commission:
            commission_when_enlisted(farm, args.commission, os.environ["BAREMETAL_API_KEY"])
        threading.Event().wait()
    return 0


def commission_when_enlisted(farm: SimFarm, api: str, key: str, timeout: float = 600) -> None:
    """Wait until every machine of the farm has enlisted (and powered off), then commission
    each through the API, as an operator would."""
    from baremetal.cli.client import oauth_header

    session = requests.Session()
    session.headers["Authorization"] = oauth_header(key)
    macs = {m.hardware.pxe_mac for m in farm.machines}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = session.get(f"{api.rstrip('/')}/machines/", timeout=60).json()
        mine = [m for m in listed if m["boot_interface"] and
                m["boot_interface"]["mac_address"] in macs]
        if len(mine) == len(macs) and all(m.bmc.power == "off" for m in farm.machines):
            break
        time.sleep(1)
    else:
        print("sim: not every machine enlisted; commissioning those that did", flush=True)
    for machine in mine:
        if machine["status_name"] == "New":
            session.post(f"{api.rstrip('/')}/machines/{machine['system_id']}/",
                         params={"op": "commission"}, timeout=60).raise_for_status()
    print(f"sim: {len(mine)} machines enlisted; commissioning them", flush=True)


if __name__ == "__main__":
    sys.exit(main())
