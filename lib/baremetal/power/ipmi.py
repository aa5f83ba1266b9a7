"""IPMI 2.0 (LAN+) through pyghmi, in a pool of single-threaded processes.

What pyghmi needs (../shared/FIELD-NOTES.md and what we measured here): credentials as
bytes (str ones hang a second session to the same BMC); and one thread per process. Its
client sessions are cached and shared between threads, and its sockets are shared and
reference counted, so a logout in one thread closes the socket another thread's session
is waiting on, which then never returns; cached sessions shared by two threads ran ten
times slower than one thread. So every IPMI conversation runs in a worker process of
`IpmiProcessPool`, one at a time per process, logged out when done: the number of open
sessions is bounded by the pool's size, a dead BMC holds one process for one timeout and
never delays the others, and select()'s limit of ~1,000 sockets is never approached.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Literal

from pydantic import SecretStr, field_validator
from pyghmi import exceptions as pyghmi_errors
from pyghmi.ipmi import command as ipmi_command

from baremetal.models import PowerState

from .base import BootDevice, DriverSettings, PowerDriver, setting
from .errors import PowerFatalError, PowerRetryableError

DEFAULT_PORT = 623
_FATAL_MARKERS = ("incorrect password", "unauthorized", "invalid rakp4", "too long",
                  "privilege", "invalid role", "cipher suite")
_BOOT_DEVICES = {"pxe": "network", "disk": "hd"}


class IpmiSettings(DriverSettings):
    power_driver: Literal["LAN_2_0", "LAN"] = setting(
        "Power driver", default="LAN_2_0",
        choices=[("LAN_2_0", "LAN_2_0 [IPMI 2.0]"), ("LAN", "LAN [IPMI 1.5]")])
    power_boot_type: Literal["auto", "efi", "legacy"] = setting(
        "Power boot type", default="auto",
        choices=[("auto", "Automatic"), ("legacy", "Legacy boot"), ("efi", "EFI boot")])
    power_address: str = setting("IP address (host or host:port)", min_length=1)
    power_user: str = setting("Power user", default="")
    power_pass: SecretStr = setting("Power password", default=SecretStr(""), secret=True)
    k_g: SecretStr = setting("K_g BMC key", default=SecretStr(""), secret=True)
    cipher_suite_id: Literal["3", "8", "12", "17"] = setting(
        "Cipher suite ID", default="3",
        choices=[("17", "17 - HMAC-SHA256::HMAC_SHA256_128::AES-CBC-128"),
                 ("3", "3 - HMAC-SHA1::HMAC-SHA1-96::AES-CBC-128"),
                 ("8", "8 - HMAC-MD5::HMAC-MD5-128::AES-CBC-128"),
                 ("12", "12 - HMAC-MD5::MD5-128::AES-CBC-128")])
    privilege_level: Literal["USER", "OPERATOR", "ADMIN"] = setting(
        "Privilege level", default="OPERATOR",
        choices=[("USER", "User"), ("OPERATOR", "Operator"), ("ADMIN", "Administrator")])
    mac_address: str = setting("Power MAC", default="", scope="node")

    @field_validator("power_address")
    @classmethod
    def _address(cls, value: str) -> str:
        host, port = split_address(value)
        if not host or not 0 < port < 65536:
            raise ValueError("must be a host name or IP address, optionally with :port")
        return value

    @property
    def host_and_port(self) -> tuple[str, int]:
        return split_address(self.power_address)


def split_address(address: str) -> tuple[str, int]:
    """`10.0.0.5`, `10.0.0.5:6230`, `[fd00::5]:6230` or `fd00::5`."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else (
            DEFAULT_PORT if not rest else -1)
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        return host, int(port) if port.isdigit() else -1
    return address, DEFAULT_PORT


_PRIVILEGES = {"USER": 2, "OPERATOR": 3, "ADMIN": 4}
# As many conversations at once as the poller asks for (see power/worker.py).
PROCESSES = int(os.environ.get("BAREMETAL_IPMI_PROCESSES", "64"))


class IpmiDriver(PowerDriver):
    name = "ipmi"
    description = "IPMI"
    settings = IpmiSettings
    settle_seconds = 10.0

    def _run(self, s: IpmiSettings, operation: str):  # type: ignore[no-untyped-def]
        return POOL.run(s.model_dump(mode="python"), operation)

    def power_on(self, s: IpmiSettings) -> None:
        # A machine is powered on to PXE boot: one-time network boot first, and a machine
        # that is already on is cycled so that it boots now.
        self._run(s, "on")

    def power_off(self, s: IpmiSettings) -> None:
        self._run(s, "off")

    def power_cycle(self, s: IpmiSettings) -> None:
        self._run(s, "cycle")

    def power_query(self, s: IpmiSettings) -> PowerState:
        return PowerState.ON if self._run(s, "query") == "on" else PowerState.OFF

    def set_boot_device(self, s: IpmiSettings, device: BootDevice, one_time: bool = True) -> None:
        self._run(s, f"bootdev:{device}:{'once' if one_time else 'persistent'}")


class IpmiProcessPool:
    """Worker processes (spawned on demand, up to `size`) that each speak IPMI alone."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # Children fork from a clean, single-threaded server that has already
                # imported pyghmi: starting one takes milliseconds, and inherits no lock.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["baremetal.power.ipmi"])
                self._executor = ProcessPoolExecutor(
                    max_workers=self.size, mp_context=context,
                    initializer=_exit_with_owner, initargs=(os.getpid(),))
            return self._executor

    def run(self, settings: dict, operation: str):  # type: ignore[no-untyped-def]
        try:
            return self._pool().submit(converse, settings, operation).result()
        except BrokenProcessPool:
            with self._lock:
                self._executor = None  # a worker died (killed?): start afresh next time
            raise PowerRetryableError("The IPMI worker process died; try again.") from None


POOL = IpmiProcessPool(PROCESSES)


def _exit_with_owner(owner: int) -> None:
    """In a pool process: leave when the process that owns the pool is gone. Its death
    (SIGKILL, SIGTERM) does not reach processes forked by the forkserver, which would
    otherwise wait for work forever. The watcher never touches pyghmi."""

    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(0)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def converse(settings: dict, operation: str):  # type: ignore[no-untyped-def]
    """One IPMI conversation, in a pool process: log in, act, log out."""
    s = IpmiSettings.model_validate(settings)
    host, port = s.host_and_port
    try:
        command = ipmi_command.Command(
            bmc=host, port=port, userid=s.power_user.encode(),
            password=s.secret("power_pass").encode(), kg=s.secret("k_g").encode() or None,
            privlevel=_PRIVILEGES[s.privilege_level])
    except pyghmi_errors.PyghmiException as error:
        raise _classify(error, host, port) from None
    except OSError as error:
        raise PowerRetryableError(f"Cannot reach the BMC at {host}:{port}: {error}") from None
    uefi = s.power_boot_type == "efi"
    try:
        if operation == "query":
            return command.get_power()["powerstate"]
        if operation == "on":
            command.set_bootdev("network", persist=False, uefiboot=uefi)
            command.set_power("boot", wait=False)
        elif operation == "off":
            command.set_power("off", wait=False)
        elif operation == "cycle":  # the region cycles a machine to PXE boot it, as MAAS
            command.set_bootdev("network", persist=False, uefiboot=uefi)
            command.set_power("boot", wait=False)
        elif operation.startswith("bootdev:"):
            _, device, mode = operation.split(":")
            command.set_bootdev(_BOOT_DEVICES[device], persist=mode == "persistent",
                                uefiboot=uefi)
        else:
            raise PowerFatalError(f"Unknown IPMI operation '{operation}'.")
        return None
    except pyghmi_errors.PyghmiException as error:
        raise _classify(error, host, port) from None
    finally:
        with contextlib.suppress(Exception):  # a session that never opened has nothing to free
            command.ipmi_session.logout()


def _classify(error: Exception, host: str, port: int) -> Exception:
    text = str(error)
    if text in ("", "None", "timeout"):
        text = "timed out waiting for an answer"
    where = f"BMC at {host}:{port}"
    if any(marker in text.lower() for marker in _FATAL_MARKERS):
        return PowerFatalError(f"The {where} refused the credentials: {text}. "
                               "Check power_user and power_pass.")
    if isinstance(error, pyghmi_errors.BmcErrorException):
        return PowerFatalError(f"The {where} refused the command: {text}.")
    return PowerRetryableError(f"No answer from the {where}: {text}.")
