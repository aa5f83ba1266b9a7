"""Storage layouts as MAAS names them (`flat`, `lvm`, `blank`), planned for one disk, pure.

Every layout that installs an OS uses GPT with a 1 MiB BIOS boot partition and a 512 MiB
EFI system partition (FAT32, /boot/efi), so the disk boots under BIOS and UEFI alike; then
an optional /boot (`boot_size`) and the root: an ext4 partition (`flat`), or an LVM volume
group `vgroot` with the logical volume `lvroot` (`lvm`). `root_size` bounds the root, which
otherwise takes the rest; MAAS's minimum root is 3 GiB. `blank` leaves the disk empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIB = 1 << 20
GIB = 1 << 30
BIOS_BOOT = 1 * MIB
ESP = 512 * MIB
MIN_ROOT = 3 * GIB
MIN_BOOT = 512 * MIB
RESERVED = 2 * MIB  # GPT: the first MiB (alignment, primary table) and the backup table
LAYOUTS = ("flat", "lvm", "blank")


class LayoutError(ValueError):
    """The layout cannot be applied; the message says why, for a person."""


@dataclass(frozen=True)
class PlannedPartition:
    number: int
    size: int
    role: str  # bios_grub, esp, boot, root, lvm
    fstype: str | None = None
    mount_point: str | None = None


@dataclass(frozen=True)
class PlannedVolume:
    name: str
    size: int
    fstype: str
    mount_point: str


@dataclass(frozen=True)
class LayoutPlan:
    layout: str
    disk: str
    partitions: tuple[PlannedPartition, ...] = ()
    volume_group: str | None = None
    volume_group_partition: int | None = None
    logical_volumes: tuple[PlannedVolume, ...] = ()


def parse_size(value: str | int | None, field: str) -> int | None:
    """Bytes from `512M`, `20G`, `1.5T`, `10737418240` (MAAS's size strings)."""
    if value in (None, ""):
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*", str(value), re.I)
    if match is None:
        raise LayoutError(f"{field}: '{value}' is not a size (like 512M, 20G or bytes).")
    scale = {"": 1, "K": 1 << 10, "M": MIB, "G": GIB, "T": 1 << 40, "P": 1 << 50}
    return int(float(match.group(1)) * scale[match.group(2).upper()])


def _human(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB else f"{size // MIB} MiB"


def plan_layout(layout: str, disk: str, disk_size: int, *, boot_size: int | None = None,
                root_size: int | None = None) -> LayoutPlan:
    if layout not in LAYOUTS:
        raise LayoutError(f"storage_layout: '{layout}' is not one of {', '.join(LAYOUTS)}.")
    if layout == "blank":
        return LayoutPlan("blank", disk)
    if boot_size is not None and boot_size < MIN_BOOT:
        raise LayoutError(f"boot_size: at least {_human(MIN_BOOT)}.")
    if root_size is not None and root_size < MIN_ROOT:
        raise LayoutError(f"root_size: at least {_human(MIN_ROOT)}.")
    fixed = RESERVED + BIOS_BOOT + ESP + (boot_size or 0)
    room = disk_size - fixed
    wanted = root_size or MIN_ROOT
    if room < wanted:
        raise LayoutError(
            f"The {layout} layout does not fit {disk} ({_human(disk_size)}): it needs "
            f"{_human(fixed + wanted)} (BIOS boot, EFI system partition"
            f"{', /boot' if boot_size else ''} and a root of {_human(wanted)}).")
    root = root_size or room
    parts = [PlannedPartition(1, BIOS_BOOT, "bios_grub"),
             PlannedPartition(2, ESP, "esp", "fat32", "/boot/efi")]
    if boot_size:
        parts.append(PlannedPartition(3, boot_size, "boot", "ext4", "/boot"))
    number = len(parts) + 1
    if layout == "flat":
        parts.append(PlannedPartition(number, root, "root", "ext4", "/"))
        return LayoutPlan("flat", disk, tuple(parts))
    parts.append(PlannedPartition(number, room, "lvm"))
    return LayoutPlan("lvm", disk, tuple(parts), "vgroot", number,
                      (PlannedVolume("lvroot", root, "ext4", "/"),))
