"""Running dnsmasq for DHCP: a new configuration is installed only if `dnsmasq --test`
accepts it; otherwise the one in place keeps serving."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from baremetal.children import die_with_parent

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class InvalidDhcpConfig(ValueError):
    """dnsmasq refused the configuration; its own words are the message."""


class DhcpService:
    def __init__(self, directory: Path, command_prefix: tuple[str, ...] = ()) -> None:
        """`command_prefix` runs dnsmasq elsewhere, e.g. ("ip", "netns", "exec", "ns1")."""
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "dnsmasq.conf"
        self.leases = directory / "dnsmasq.leases"
        self.prefix = command_prefix
        self.process: subprocess.Popen | None = None

    def _command(self, config: Path, *extra: str) -> list[str]:
        return [*self.prefix, DNSMASQ, f"--conf-file={config}", f"--dhcp-leasefile={self.leases}",
                "--user=root", *extra]

    def check(self, text: str) -> None:
        candidate = self.directory / "dnsmasq.conf.new"
        candidate.write_text(text)
        done = subprocess.run([DNSMASQ, f"--conf-file={candidate}", "--test"],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            candidate.unlink(missing_ok=True)
            message = (done.stderr or done.stdout).strip().splitlines()
            raise InvalidDhcpConfig(message[-1] if message else "dnsmasq refused the config")

    def apply(self, text: str) -> None:
        """Check, then install and (re)start; a refused config changes nothing."""
        self.check(text)
        os.replace(self.directory / "dnsmasq.conf.new", self.config)
        self.stop()
        self.process = subprocess.Popen(self._command(self.config, "--keep-in-foreground"),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        preexec_fn=die_with_parent)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
