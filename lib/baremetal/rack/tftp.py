"""TFTP for the first stage of the boot chain only, with tftpy.

tftpy serves any file under its root and follows symlinks out of it, accepts uploads by
default, and dies when a generated file is a BytesIO (../shared/FIELD-NOTES.md §TFTP).
So tftpy is given an empty root and every request is decided here: bootloaders on an
allowlist, per-MAC configs generated from the boot decision, nothing else; no `..`, no
absolute path, no symlink that leaves the boot root; uploads refused; generated content
handed over as a real temporary file; `listen()` supervised.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

import tftpy

log = logging.getLogger(__name__)

Loader = Literal["pxelinux", "grub", "ipxe"]
# Given a MAC (None for "nobody in particular"), a loader and the client's address, the
# config to serve (None: not found).
ConfigSource = Callable[[str | None, Loader, str | None], str | None]

# First-stage bootloaders and the Debian files they come from.
BOOTLOADERS: dict[str, str] = {
    "undionly.kpxe": "/usr/lib/ipxe/undionly.kpxe",  # iPXE, x86 BIOS
    "ipxe.efi": "/usr/lib/ipxe/ipxe.efi",  # iPXE, x86-64 UEFI
    "lpxelinux.0": "/usr/lib/PXELINUX/lpxelinux.0",  # PXELINUX with HTTP
    "ldlinux.c32": "/usr/lib/syslinux/modules/bios/ldlinux.c32",
}
_MAC = r"[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}"
_PXELINUX = re.compile(rf"^pxelinux\.cfg/(?:01-(?P<mac>{_MAC})|(?P<default>default))$", re.I)
_GRUB = re.compile(rf"^grub/grub\.cfg(?:-(?:01-)?(?P<mac>{_MAC}))?$", re.I)
# DHCP hands iPXE this script, which chains to the machine's own by its MAC.
IPXE_CHAIN = "ipxe/boot.ipxe"
# (Absolute URIs: a relative one would resolve against ipxe/boot.ipxe's own directory.)
IPXE_CHAIN_SCRIPT = ("#!ipxe\nchain tftp://${next-server}/ipxe/mac-${net0/mac:hexhyp}.ipxe || "
                     "chain tftp://${next-server}/ipxe/default.ipxe\n")
_IPXE = re.compile(rf"^ipxe/(?:mac-)?(?P<mac>{_MAC})\.ipxe$|^ipxe/(?P<default>default)\.ipxe$",
                   re.I)


def install_bootloaders(root: Path) -> list[str]:
    """Copy the Debian bootloaders that are installed into the boot root (as files)."""
    root.mkdir(parents=True, exist_ok=True)
    installed = []
    for name, source in BOOTLOADERS.items():
        if Path(source).is_file():
            shutil.copyfile(source, root / name)
            installed.append(name)
    return installed


def normal_mac(text: str) -> str:
    return text.lower().replace("-", ":")


class BootFiles:
    """Decides what a TFTP read request gets: a file object, or None (not found)."""

    def __init__(self, root: Path, configs: ConfigSource) -> None:
        self.root = root.resolve()
        self.configs = configs

    def open(self, requested: str, client: str | None = None) -> BinaryIO | None:
        name = self._safe_name(requested)
        if name is None:
            return None
        if name == IPXE_CHAIN:
            return _temporary(IPXE_CHAIN_SCRIPT.encode())
        for pattern, loader in ((_PXELINUX, "pxelinux"), (_GRUB, "grub"), (_IPXE, "ipxe")):
            found = pattern.match(name)
            if found:
                mac = found.groupdict().get("mac")
                text = self.configs(normal_mac(mac) if mac else None, loader, client)  # type: ignore[arg-type]
                return None if text is None else _temporary(text.encode())
        return self._static(name)

    @staticmethod
    def _safe_name(requested: str) -> str | None:
        if not requested or requested.startswith(("/", "\\")) or "\\" in requested \
                or "\x00" in requested:
            return None
        parts = requested.split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None
        return requested

    def _static(self, name: str) -> BinaryIO | None:
        if "/" in name or name not in BOOTLOADERS and not name.endswith(".c32"):
            return None  # only boot files, and only at the top of the boot root
        path = (self.root / name).resolve()
        if path.parent != self.root or not path.is_file():
            return None  # a symlink out of the root, or nothing there
        return path.open("rb")


def _temporary(content: bytes) -> BinaryIO:
    handle = tempfile.TemporaryFile()  # noqa: SIM115  (tftpy closes it after the transfer)
    handle.write(content)
    handle.seek(0)
    return handle  # type: ignore[return-value]


class TftpService:
    """tftpy's server on (address, port), supervised in a thread."""

    def __init__(self, files: BootFiles, address: str = "0.0.0.0", port: int = 69) -> None:
        self.files = files
        self.address = address
        self.port = port
        self._empty_root = tempfile.mkdtemp(prefix="baremetal-tftp-")
        self._server: tftpy.TftpServer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._server = tftpy.TftpServer(
                self._empty_root,
                dyn_file_func=lambda name, raddress=None, **_: self.files.open(name, raddress),
                upload_open=lambda path, context: None)  # no uploads, ever
            self.listening.set()
            try:
                self._server.listen(self.address, self.port)
            except Exception:  # tftpy's loop can die on one bad transfer: start it again
                if not self._stop.is_set():
                    log.exception("TFTP server stopped; restarting")
                    time.sleep(0.5)

    def start(self) -> TftpService:
        self._thread = threading.Thread(target=self._serve, name="tftp", daemon=True)
        self._thread.start()
        self.listening.wait(5)
        time.sleep(0.1)  # listen() binds right after the server object exists
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop(now=True)
        if self._thread is not None:
            self._thread.join(timeout=10)
        shutil.rmtree(self._empty_root, ignore_errors=True)
