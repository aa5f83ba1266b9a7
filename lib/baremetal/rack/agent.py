"""The rack agent: registers with the region using the shared secret, sends heartbeats,
pulls its configuration (DHCP, images) and serves the boot chain (TFTP, HTTP, dnsmasq),
and runs the power worker against the region over the rack protocol."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import subprocess
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from baremetal import __version__
from baremetal.boot.dhcp import plan_dhcp, render_dnsmasq
from baremetal.models import PowerState
from baremetal.power.worker import PowerWorker
from baremetal.store.power import PollTarget, PowerJob

from .boot import BootHttpServer, ImageCache, RegionConfigs, boot_http_app
from .dhcp import DhcpService, InvalidDhcpConfig
from .tftp import BootFiles, TftpService, install_bootloaders

log = logging.getLogger(__name__)
TIMEOUT = (5, 30)


class RegionRefused(RuntimeError):
    """The region said no (wrong secret, bad request): retrying will not help."""


class RegionClient:
    def __init__(self, region_url: str, secret: str) -> None:
        self.base = region_url.rstrip("/") + "/MAAS/rack/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {secret}"

    def stream(self, path: str) -> requests.Response:
        response = self.session.get(self.base + path, stream=True, timeout=TIMEOUT)
        if response.status_code >= 400:
            response.close()
            raise RegionRefused(f"The region refused {path}: {response.status_code}")
        return response

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
        return [PollTarget(**t) for t in self.client.post(
            "/power/poll-targets", {"limit": limit, "rack": self.rack})]

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


@dataclass(frozen=True)
class BootOptions:
    """The rack's boot services: TFTP, HTTP boot and (optionally) DHCP with dnsmasq."""

    directory: Path
    address: str = "0.0.0.0"
    tftp_port: int = 69
    http_port: int = 5248
    advertise: str | None = None  # the address machines reach this rack at, if not found
    dhcp: bool = True
    dhcp_command_prefix: tuple[str, ...] = ()  # e.g. ("ip", "netns", "exec", "ns")


class BootServices:
    """TFTP + HTTP boot + image cache + DHCP, configured from what the region says."""

    def __init__(self, client: RegionClient, region_url: str, options: BootOptions,
                 interfaces: list[dict[str, Any]]) -> None:
        self.options = options
        self.interfaces = interfaces
        root = options.directory / "boot"
        install_bootloaders(root)
        self.images = ImageCache(options.directory / "images", client)
        files = BootFiles(root, RegionConfigs(client, options.http_port, interfaces,
                                              options.advertise))
        self.tftp = TftpService(files, options.address, options.tftp_port)
        self.http = BootHttpServer(boot_http_app(files, self.images, region_url),
                                   options.address, options.http_port)
        self.dhcp = DhcpService(options.directory / "dhcp", options.dhcp_command_prefix) \
            if options.dhcp else None
        self._dhcp_text: str | None = None

    def start(self) -> None:
        self.tftp.start()
        self.http.start()

    def apply(self, config: dict[str, Any]) -> None:
        """Sync images and (re)configure DHCP; a refused config leaves the old one serving."""
        self.images.sync(config.get("images", []))
        if self.dhcp is None:
            return
        plan = plan_dhcp(config.get("dhcp", []), self.interfaces, self.options.http_port)
        if not plan.subnets:
            self.dhcp.stop()
            self._dhcp_text = None
            return
        text = render_dnsmasq(plan)
        if text != self._dhcp_text or not self.dhcp.running():
            try:
                self.dhcp.apply(text)
                self._dhcp_text = text
                log.info("DHCP serving %s", ", ".join(s.cidr for s in plan.subnets))
            except InvalidDhcpConfig as error:
                log.error("DHCP configuration refused by dnsmasq, keeping the old one: %s",
                          error)

    def stop(self) -> None:
        self.tftp.stop()
        self.http.stop()
        if self.dhcp is not None:
            self.dhcp.stop()


class RackAgent:
    def __init__(self, region_url: str, secret: str, name: str | None = None, *,
                 concurrency: int = 16, poll_interval: float | None = 60.0,
                 boot: BootOptions | None = None, power: bool = True) -> None:
        self.region_url = region_url
        self.boot_options = boot
        self.boot: BootServices | None = None
        self.power = power
        self.client = RegionClient(region_url, secret)
        self.name = name or socket.gethostname()
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.system_id: str | None = None
        self.stop = threading.Event()
        self.heartbeat_interval = 10.0

    def register(self) -> str:
        interfaces = self.interfaces = local_interfaces()
        answer = self.client.post("/register", {
            "name": self.name, "hostname": socket.gethostname(), "version": __version__,
            "interfaces": interfaces,
            "subnets": sorted({str(ipaddress.ip_interface(a).network)
                               for i in interfaces for a in i["addresses"]})})
        self.system_id = answer["system_id"]
        self.heartbeat_interval = float(answer.get("heartbeat_interval", 10))
        return self.system_id

    def sync(self) -> None:
        """Pull this rack's configuration and apply it to the boot services."""
        if self.boot is not None:
            self.boot.apply(self.client.post("/config", {"system_id": self.system_id}))

    def _beat(self) -> None:
        while not self.stop.wait(self.heartbeat_interval):
            try:
                self.client.post("/heartbeat", {"system_id": self.system_id})
                self.sync()
            except RegionRefused:
                log.error("the region refused a heartbeat; registering again")
                self.register()
            except requests.RequestException as error:
                log.warning("heartbeat failed (%s); will try again", error)

    def run(self) -> None:
        while True:  # the region may still be starting
            try:
                self.register()
                break
            except requests.ConnectionError as error:
                log.warning("region not reachable (%s); trying again", error)
                if self.stop.wait(2):
                    return
        if self.boot_options is not None:
            self.boot = BootServices(self.client, self.region_url, self.boot_options,
                                     self.interfaces)
            self.boot.start()
            try:
                self.sync()
            except (RegionRefused, requests.RequestException) as error:
                log.error("first configuration pull failed (%s); retrying with heartbeats",
                          error)
        threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()
        try:
            if self.power:
                worker = PowerWorker(HttpJobSource(self.client, self.system_id),
                                     concurrency=self.concurrency,
                                     poll_interval=self.poll_interval)
                worker.stop = self.stop
                worker.run()
            else:
                self.stop.wait()
        finally:
            if self.boot is not None:
                self.boot.stop()
