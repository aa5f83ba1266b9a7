"""One function from (a machine or an unknown MAC, its status, its architecture, how it
boots) to what it boots: enlist, commission, test, deploy, rescue, local disk, power off."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from baremetal.models import NodeStatus as S


class Purpose(StrEnum):
    ENLIST = "enlist"
    COMMISSION = "commission"
    TEST = "test"
    DEPLOY = "deploy"
    RESCUE = "rescue"
    ERASE = "erase"
    LOCAL = "local"  # boot from the machine's own disk
    POWEROFF = "poweroff"  # boot the ephemeral image only to power the machine off


@dataclass(frozen=True)
class BootTarget:
    """What the rack knows about the booting machine; None fields for an unknown MAC."""

    mac: str
    architecture: str = "amd64/generic"
    status: S | None = None  # None: nobody knows this MAC
    system_id: str | None = None
    netboot: bool = True
    token: str | None = None  # the machine's own metadata token, never a user's API key
    install_to_disk: bool = False


@dataclass(frozen=True)
class BootImage:
    """The image a machine boots: its name and the file names of its kernel and initrd,
    and, for a real OS, its squashfs (booted from HTTP with an overlay in RAM)."""

    name: str = "ephemeral"  # the busybox environment
    kernel: str = "vmlinuz"
    initrd: str = "initrd"
    squashfs: str | None = None
    preseed_nonce: str | None = None  # ties the preseed URL to this boot


BUSYBOX = BootImage()
# What runs in the real OS environment when there is one (the rest always runs busybox:
# enlisting an unknown machine, powering one off, the ephemeral deployment until the
# installer exists).
REAL_OS_PURPOSES = frozenset({"commission", "test", "erase", "rescue"})


@dataclass(frozen=True)
class BootDecision:
    purpose: Purpose
    kernel: str | None = None  # URL
    initrd: str | None = None  # URL
    cmdline: str = ""


_BY_STATUS: dict[S, Purpose] = {
    S.COMMISSIONING: Purpose.COMMISSION,
    S.TESTING: Purpose.TEST,
    S.DEPLOYING: Purpose.DEPLOY,
    S.DISK_ERASING: Purpose.ERASE,
    S.ENTERING_RESCUE_MODE: Purpose.RESCUE,
    S.RESCUE_MODE: Purpose.RESCUE,
}


# The statuses in which a machine netboots to work in the ephemeral environment, and those
# among them that use the real OS when there is one.
NETBOOT_STATUSES = frozenset(_BY_STATUS)
REAL_OS_STATUSES = frozenset(status for status, purpose in _BY_STATUS.items()
                             if purpose.value in REAL_OS_PURPOSES)


def boots_real_os(target: BootTarget) -> bool:
    """Whether this boot may use the real OS environment (a known machine, for one of the
    purposes that run there); the rest boot the busybox image."""
    return bool(target.system_id) and purpose_for(target).value in REAL_OS_PURPOSES


def purpose_for(target: BootTarget) -> Purpose:
    if target.status is None:
        return Purpose.ENLIST
    found = _BY_STATUS.get(target.status)
    if found is not None:
        return found
    if target.status is S.DEPLOYED:
        # Deployed to disk: boot the disk. Deployed ephemerally: the image is the system.
        return Purpose.LOCAL if target.install_to_disk or not target.netboot else Purpose.DEPLOY
    return Purpose.POWEROFF if target.netboot else Purpose.LOCAL


def decide(target: BootTarget, *, http_base: str, metadata_url: str,
           enlistment_token: str | None = None, console: str = "ttyS0,115200",
           image: BootImage = BUSYBOX) -> BootDecision:
    """The decision and, unless booting the local disk, the kernel, initrd and command line.

    The command line carries the metadata URL and the machine's own token (or, for an
    unknown machine, the enlistment token), and the MAC it booted from (BOOTIF). A real OS
    image (one with a squashfs) boots it with live-boot (`boot=live fetch=...`, an overlay
    in RAM) and points cloud-init at the region: the MAAS datasource, configured by the
    preseed URL.
    """
    purpose = purpose_for(target)
    if purpose is Purpose.LOCAL:
        return BootDecision(purpose)
    if image.squashfs and not boots_real_os(target):
        image = BUSYBOX
    arch = target.architecture.split("/", 1)[0] or "amd64"
    base = f"{http_base.rstrip('/')}/images/{arch}/{image.name}"
    token = enlistment_token if purpose is Purpose.ENLIST else target.token
    parts = [
        "ip=dhcp", f"BOOTIF=01-{target.mac.replace(':', '-').lower()}",
        f"console={console}", f"baremetal.url={metadata_url}", f"baremetal.purpose={purpose}",
    ]
    if image.squashfs:
        preseed = (f"{metadata_url}latest/by-id/{target.system_id}/"
                   f"{image.preseed_nonce}/?op=get_preseed")
        parts = ["boot=live", f"fetch={base}/{image.squashfs}", "ci.ds=MAAS",
                 f"cloud-config-url={preseed}", *parts]
    if target.system_id:
        parts.append(f"baremetal.system_id={target.system_id}")
    if token:
        parts.append(f"baremetal.token={token}")
    return BootDecision(purpose, f"{base}/{image.kernel}", f"{base}/{image.initrd}",
                        " ".join(parts))


def preseed_nonce(token: str, system_id: str, status: int) -> str:
    """The part of the preseed URL that ties it to this machine's current boot: it changes
    with every status (each commissioning, each deployment) and cannot be made without the
    machine's token, so the anonymous preseed URL cannot be guessed or reused later."""
    message = f"preseed:{system_id}:{status}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()[:32]
