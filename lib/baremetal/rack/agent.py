"""The rack agent: registers with the region using the shared secret, sends heartbeats,
and runs the power worker against the region over the rack protocol."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import subprocess
import threading
from datetime import timedelta
from typing import Any

import requests

from baremetal import __version__
from baremetal.models import PowerState
from baremetal.power.worker import PowerWorker
from baremetal.store.power import PollTarget, PowerJob

log = logging.getLogger(__name__)
TIMEOUT = (5, 30)


class RegionRefused(RuntimeError):
    """The region said no (wrong secret, bad request): retrying will not help."""


class RegionClient:
    def __init__(self, region_url: str, secret: str) -> None:
        self.base = region_url.rstrip("/") + "/MAAS/rack/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {secret}"

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.session.post(self.base + path, json=body, timeout=TIMEOUT)
        if response.status_code == 401:
            raise RegionRefused("The region refused the rack secret (401).")
        if 400 <= response.status_code < 500:
            raise RegionRefused(f"The region refused {path}: {response.text}")
        response.raise_for_status()
        return response.json()


class HttpJobSource:
    """The power worker's JobSource over the rack protocol."""

    lease = timedelta(seconds=30)

    def __init__(self, client: RegionClient, rack_system_id: str) -> None:
        self.client = client
        self.rack = rack_system_id

    def claim(self, limit: int) -> list[PowerJob]:
        found = self.client.post("/power/claim", {"rack": self.rack, "limit": limit})
        return [PowerJob(**job) for job in found]

    def renew(self, job_ids: list[int]) -> None:
        self.client.post("/power/renew", {"rack": self.rack, "job_ids": job_ids})

    def finish(self, job_id: int, state: PowerState | None, error: str | None) -> bool:
        answer = self.client.post("/power/finish", {
            "rack": self.rack, "job_id": job_id,
            "state": None if state is None else state.value, "error": error})
        return bool(answer["accepted"])

    def poll_targets(self, limit: int) -> list[PollTarget]:
        return [PollTarget(**t) for t in self.client.post("/power/poll-targets",
                                                          {"limit": limit})]

    def record_states(self, results: list[tuple[int, PowerState, str | None]]) -> None:
        self.client.post("/power/states", {
            "results": [[machine_id, state.value, error] for machine_id, state, error in results]})


def local_interfaces() -> list[dict[str, Any]]:
    """This host's interfaces and addresses, from `ip -j addr`."""
    try:
        listed = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True,
                                           text=True, timeout=10).stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []
    return [{"name": i.get("ifname", "")[:64], "mac_address": i.get("address"),
             "addresses": [f"{a['local']}/{a['prefixlen']}" for a in i.get("addr_info", [])]}
            for i in listed if i.get("ifname") != "lo"]


class RackAgent:
    def __init__(self, region_url: str, secret: str, name: str | None = None, *,
                 concurrency: int = 16, poll_interval: float | None = 60.0) -> None:
        self.client = RegionClient(region_url, secret)
        self.name = name or socket.gethostname()
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.system_id: str | None = None
        self.stop = threading.Event()
        self.heartbeat_interval = 10.0

    def register(self) -> str:
        interfaces = local_interfaces()
        answer = self.client.post("/register", {
            "name": self.name, "hostname": socket.gethostname(), "version": __version__,
            "interfaces": interfaces,
            "subnets": sorted({str(ipaddress.ip_interface(a).network)
                               for i in interfaces for a in i["addresses"]})})
        self.system_id = answer["system_id"]
        self.heartbeat_interval = float(answer.get("heartbeat_interval", 10))
        return self.system_id

    def _beat(self) -> None:
        while not self.stop.wait(self.heartbeat_interval):
            try:
                self.client.post("/heartbeat", {"system_id": self.system_id})
            except RegionRefused:
                log.error("the region refused a heartbeat; registering again")
                self.register()
            except requests.RequestException as error:
                log.warning("heartbeat failed (%s); will try again", error)

    def run(self) -> None:
        self.register()
        threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()
        worker = PowerWorker(HttpJobSource(self.client, self.system_id),
                             concurrency=self.concurrency, poll_interval=self.poll_interval)
        worker.stop = self.stop
        worker.run()
