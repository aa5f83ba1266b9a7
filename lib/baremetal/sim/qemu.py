"""A qemu VM as a machine: a virtual BMC (IPMI over UDP, as for any machine) whose power
on starts qemu (TCG, PXE boot from an e1000 NIC on a tap device) and whose power off
stops it; a guest that powers itself off ends the process, and the BMC then reads off."""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from .bmc import VirtualBmc


@dataclass(frozen=True)
class VmSpec:
    mac: str
    tap: str  # a tap device (in `netns`, if given)
    disk: Path  # raw image
    cpus: int = 2
    memory_mib: int = 1024
    netns: str | None = None
    console: Path | None = None  # the serial console, for reading what happened


class QemuBmc(VirtualBmc):
    def __init__(self, spec: VmSpec, username: str, password: str, port: int = 0) -> None:
        super().__init__(username, password, port, on_power=self._power)
        self.spec = spec
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        s = self.spec
        command = [
            "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", "qemu64",
            "-smp", str(s.cpus), "-m", str(s.memory_mib), "-nographic", "-no-reboot",
            "-boot", "n", "-netdev", f"tap,id=n0,ifname={s.tap},script=no,downscript=no",
            "-device", f"e1000,netdev=n0,mac={s.mac}",
            "-drive", f"file={s.disk},format=raw,if=virtio",
            "-serial", f"file:{s.console}" if s.console else "null", "-monitor", "none",
        ]
        return ["ip", "netns", "exec", s.netns, *command] if s.netns else command

    def _power(self, bmc: VirtualBmc, state: str) -> None:
        if state == "on":
            self._stop_vm()
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            threading.Thread(target=self._watch, args=(self.process,), daemon=True).start()
        else:
            self._stop_vm()

    def _watch(self, process: subprocess.Popen) -> None:
        process.wait()
        with self.lock:
            if self.process is process:  # the guest powered itself off
                self.power = "off"
                self.process = None

    def _stop_vm(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)

    def close(self) -> None:
        self._stop_vm()
        super().close()
