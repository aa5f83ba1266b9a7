"""Virtual BMCs: IPMI 2.0 (LAN+) on UDP, built on pyghmi's BMC, many in one process.

Each answers chassis power and boot-device commands and the user-management commands
that automatic BMC set-up uses (set user name, password, access, enable). Two of pyghmi's
server-side gaps are closed here, as a real BMC would (../shared/FIELD-NOTES.md):
  * cipher suites: a proposal other than SHA-1 (suite 3) is refused with RMCP+ status 0x11,
    so pyghmi's and ipmitool's clients fall back instead of crashing in RAKP 2;
  * an unknown user name is refused in RAKP 2 (status 0x0d) instead of being ignored.
The third trap, select()'s limit of ~1,000 sockets a process, is why a farm of BMCs is
spread over several processes (`BmcFarm`, `python -m baremetal.sim.bmc`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi import command as ipmi_command
from pyghmi.ipmi.private import constants, serversession
from pyghmi.ipmi.private import session as ipmi_session

log = logging.getLogger(__name__)
_RETIRED: list = []  # sockets of closed BMCs, kept open (see VirtualBmc.close)

SHA1 = 1
MAX_USERS = 16
NO_CIPHER_MATCH = 0x11
UNAUTHORIZED_NAME = 0x0D


@dataclass
class BmcUser:
    name: str = ""
    password: str = ""
    enabled: bool = False
    privilege: int = 0x0F  # 0x0F: no access


@dataclass
class BmcUsers:
    """The BMC's user table; pyghmi asks it for a password by user name."""

    slots: dict[int, BmcUser] = field(default_factory=dict)

    def get(self, username: str) -> str | None:
        for user in self.slots.values():
            if user.enabled and user.name == username and user.privilege != 0x0F:
                return user.password
        return None

    def slot(self, uid: int) -> BmcUser:
        return self.slots.setdefault(uid, BmcUser())


class StrictServerSession(serversession.ServerSession):
    """pyghmi's server session, refusing what a real BMC refuses."""

    def sessionless_data(self, data, sockaddr):  # type: ignore[no-untyped-def]
        # A client that reuses its source port for a new session lands here once pyghmi
        # has dropped the old session: hand it to the BMC, as a fresh client would be.
        self.bmc.sessionless_data(data, sockaddr)

    def create_open_session_response(self, request):  # type: ignore[no-untyped-def]
        request = bytearray(request)
        auth = request[12] & 0x3F if len(request) > 12 else None
        integrity = request[20] & 0x3F if len(request) > 20 else None
        if auth != SHA1 or integrity not in (0, SHA1):
            self.clientsessionid = request[4:8]
            return bytearray([request[0], NO_CIPHER_MATCH, 0, 0]) + request[4:8]
        return super().create_open_session_response(request)

    def _got_rakp1(self, data):  # type: ignore[no-untyped-def]
        name = bytes(data[28:]).decode("utf-8", "replace")
        if data[27] and self.authdata.get(name) is None:
            self.send_payload(bytearray([data[0], UNAUTHORIZED_NAME, 0, 0])
                              + self.clientsessionid,
                              constants.payload_types["rakp2"], retry=False)
            return
        super()._got_rakp1(data)


class VirtualBmc(pyghmi_bmc.Bmc):
    """One machine's BMC: its power, its next boot device, its users."""

    def __init__(self, username: str, password: str, port: int, address: str = "127.0.0.1",
                 on_power: Callable[[VirtualBmc, str], None] | None = None) -> None:
        self.users = BmcUsers()
        self.users.slots[1] = BmcUser()  # the anonymous user, disabled as on most BMCs
        self.users.slots[2] = BmcUser(username, password, True, 4)
        super().__init__(self.users, port=port, address=address)
        self.port = self.serversocket.getsockname()[1]  # port 0 asks for any free port
        self.power = "off"
        self.boot_device = "default"
        self.boot_persistent = False
        self.booted_from: list[str] = []  # what each power-on booted, for tests and sims
        self.on_power = on_power
        self.lock = threading.Lock()

    # Chassis power.
    def get_power_state(self) -> str:
        return self.power

    def _boot(self) -> None:
        device = self.boot_device if self.boot_device != "default" else "hd"
        self.booted_from.append(device)
        if not self.boot_persistent:
            self.boot_device = "default"
        self.power = "on"
        if self.on_power is not None:
            self.on_power(self, "on")

    def power_on(self) -> int:
        with self.lock:
            if self.power == "off":
                self._boot()
        return 0

    def power_off(self) -> int:
        with self.lock:
            self.power = "off"
            if self.on_power is not None:
                self.on_power(self, "off")
        return 0

    def power_shutdown(self) -> int:
        return self.power_off()

    def power_cycle(self) -> int:
        with self.lock:
            if self.power == "off":
                return 0xD5  # "command not supported in present state", as real BMCs say
            self._boot()
        return 0

    def power_reset(self) -> int:
        with self.lock:
            if self.power == "on":
                self._boot()
        return 0

    # Boot device.
    def get_boot_device(self) -> str:
        return self.boot_device

    def set_boot_device(self, bootdevice: str) -> None:
        self.boot_device = bootdevice

    def sessionless_data(self, data, sockaddr):  # type: ignore[no-untyped-def]
        raw = bytearray(data)
        if (len(raw) >= 22 and raw[0] == 6 and raw[2:4] == b"\xff\x07" and raw[4] == 6
                and raw[5] == 16):
            StrictServerSession(self.authdata, self.kg, sockaddr, self.serversocket,
                                raw[16:], self.uuid, bmc=self)
            return
        super().sessionless_data(data, sockaddr)

    def handle_raw_request(self, request, session):  # type: ignore[no-untyped-def]
        netfn, command, data = request["netfn"], request["command"], request["data"]
        if netfn == 0 and command == 8 and data and data[0] & 0x7F == 5 and len(data) >= 3:
            return self._set_boot_flags(data, session)
        handler = _USER_COMMANDS.get(command) if netfn == 6 else None
        if handler is not None:
            try:
                return handler(self, data, session)
            except (IndexError, ValueError):
                return session.send_ipmi_response(code=0xC7)  # request data length invalid
        return super().handle_raw_request(request, session)

    def _set_boot_flags(self, data, session):  # type: ignore[no-untyped-def]
        selector = (data[2] >> 2) & 0x0F
        device = "default" if selector == 0 else ipmi_command.boot_devices.get(selector)
        if device is None:
            return session.send_ipmi_response(code=0xCC)
        self.boot_device = device
        self.boot_persistent = bool(data[1] & 0x40)
        return session.send_ipmi_response()

    # User management (IPMI 2.0 §22.26-22.30).
    def _set_user_access(self, data, session):  # type: ignore[no-untyped-def]
        user = self.users.slot(_uid(data[1]))
        user.privilege = data[2] & 0x0F
        return session.send_ipmi_response()

    def _get_user_access(self, data, session):  # type: ignore[no-untyped-def]
        user = self.users.slot(_uid(data[1]))
        enabled = sum(1 for u in self.users.slots.values() if u.enabled)
        status = 0x40 if user.enabled else 0x80
        access = 0x30 | (user.privilege & 0x0F)  # IPMI messaging and link auth on
        return session.send_ipmi_response(data=[MAX_USERS, status | enabled, 1, access])

    def _set_user_name(self, data, session):  # type: ignore[no-untyped-def]
        uid = _uid(data[0])
        if uid < 2:
            return session.send_ipmi_response(code=0xCC)  # user 1's name is fixed (null)
        self.users.slot(uid).name = bytes(data[1:17]).rstrip(b"\x00").decode("utf-8")
        return session.send_ipmi_response()

    def _get_user_name(self, data, session):  # type: ignore[no-untyped-def]
        name = self.users.slot(_uid(data[0])).name.encode()[:16]
        return session.send_ipmi_response(data=list(name.ljust(16, b"\x00")))

    def _set_user_password(self, data, session):  # type: ignore[no-untyped-def]
        user = self.users.slot(_uid(data[0]))
        operation = data[1] & 0x03
        size = 20 if data[0] & 0x80 else 16
        password = bytes(data[2:2 + size]).rstrip(b"\x00").decode("utf-8", "replace")
        if operation == 0:
            user.enabled = False
        elif operation == 1:
            user.enabled = True
        elif operation == 2:
            user.password = password
        elif user.password != password:
            return session.send_ipmi_response(code=0x80)  # test password: mismatch
        return session.send_ipmi_response()

    def _get_channel_info(self, data, session):  # type: ignore[no-untyped-def]
        # Channel 1: 802.3 LAN, IPMB-1.0 protocol, multi-session, IPMI vendor id.
        return session.send_ipmi_response(data=[1, 4, 1, 0x80, 0xF2, 0x1B, 0x00, 0, 0])

    def close(self) -> None:
        """Stop answering: unregister from pyghmi's packet routing. The socket stays open
        and in pyghmi's I/O loop: its I/O thread may be inside select() on it (a descriptor
        closed under it kills the thread, and with it every BMC of the process), and the
        first socket of the loop is how pyghmi wakes that thread when sockets are added.
        Packets to a retired socket are dropped; it closes when the process ends."""
        handlers = ipmi_session.Session.bmc_handlers
        handlers.pop(self.serversocket, None)
        for client, per_port in list(handlers.items()):
            if isinstance(per_port, dict) and per_port.get(self.port) is not None \
                    and getattr(per_port[self.port], "bmc", None) is self:
                del per_port[self.port]
                if not per_port:
                    handlers.pop(client, None)
        _RETIRED.append(self.serversocket)

    def state(self) -> dict[str, object]:
        return {"port": self.port, "power": self.power, "boot_device": self.boot_device,
                "booted_from": list(self.booted_from),
                "users": {uid: u.name for uid, u in self.users.slots.items() if u.name}}


def _uid(byte: int) -> int:
    uid = byte & 0x3F
    if not 1 <= uid <= MAX_USERS:
        raise ValueError(uid)
    return uid


_USER_COMMANDS = {
    0x42: VirtualBmc._get_channel_info,
    0x43: VirtualBmc._set_user_access,
    0x44: VirtualBmc._get_user_access,
    0x45: VirtualBmc._set_user_name,
    0x46: VirtualBmc._get_user_name,
    0x47: VirtualBmc._set_user_password,
}


def serve_forever(stop: threading.Event | None = None) -> None:
    """Answer every BMC of this process (pyghmi keeps them in one select loop). A packet
    that trips pyghmi is dropped, as a real BMC drops it; the BMCs keep serving."""
    while stop is None or not stop.is_set():
        try:
            ipmi_session.Session.wait_for_rsp(timeout=0.5)
        except Exception:
            log.exception("virtual BMC: dropped a packet pyghmi could not handle")


def main(argv: list[str] | None = None) -> int:
    """`python -m baremetal.sim.bmc --base-port P --count N`: N BMCs on P, P+1, ...
    (`--base-port 0`: any free ports). Prints one JSON line with the ports when all
    listen. At most 900 per process (select()'s limit)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--base-port", type=int, required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="password")
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.count > 900:
        parser.error("at most 900 BMCs per process: start several processes")
    bmcs = [VirtualBmc(args.username, args.password,
                       args.base_port + n if args.base_port else 0, args.address)
            for n in range(args.count)]
    print(json.dumps({"listening": [b.port for b in bmcs]}), flush=True)
    serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["BmcUser", "BmcUsers", "VirtualBmc", "main", "serve_forever"]
