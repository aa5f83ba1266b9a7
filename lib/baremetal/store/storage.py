"""Applying a storage layout to a machine's disks, and reading its volume groups."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from baremetal.storage.layouts import LayoutError, LayoutPlan, plan_layout

from . import schema as t


def _disks(conn: Connection, machine_id: int) -> list[Any]:
    b = t.block_devices
    return conn.execute(select(b).where(b.c.machine_id == machine_id).order_by(b.c.id)).all()


def plan_for(conn: Connection, machine_id: int, layout: str, *, root_device: str | None = None,
             boot_size: int | None = None, root_size: int | None = None) -> LayoutPlan:
    """The plan for the machine's boot disk (or `root_device`, by name or id)."""
    disks = _disks(conn, machine_id)
    if not disks:
        raise LayoutError("The machine has no disk: commission it first.")
    boot_disk_id = conn.execute(select(t.machines.c.boot_disk_id).where(
        t.machines.c.id == machine_id)).scalar()
    if root_device:
        found = [d for d in disks if root_device in (d.name, str(d.id))]
        if not found:
            raise LayoutError(f"root_device: the machine has no disk '{root_device}' (it has "
                              f"{', '.join(d.name for d in disks)}).")
        disk = found[0]
    else:
        disk = next((d for d in disks if d.id == boot_disk_id), disks[0])
    return plan_layout(layout, disk.name, disk.size, boot_size=boot_size, root_size=root_size)


def apply_layout(conn: Connection, machine_id: int, plan: LayoutPlan) -> None:
    """Reset the machine's storage configuration, then write the plan's partitions,
    filesystems and volume group (every disk's earlier layout goes, as in MAAS)."""
    disks = {d.name: d for d in _disks(conn, machine_id)}
    b, p = t.block_devices, t.partitions
    ids = [d.id for d in disks.values()]
    conn.execute(delete(t.volume_groups).where(t.volume_groups.c.machine_id == machine_id))
    conn.execute(delete(p).where(p.c.block_device_id.in_(ids)))
    conn.execute(update(b).where(b.c.id.in_(ids)).values(fstype=None, fs_uuid=None,
                                                          mount_point=None))
    disk = disks[plan.disk]
    conn.execute(update(t.machines).where(t.machines.c.id == machine_id)
                 .values(boot_disk_id=disk.id))
    by_number = {}
    for part in plan.partitions:
        by_number[part.number] = conn.execute(insert(p).values(
            block_device_id=disk.id, number=part.number, size=part.size,
            uuid=str(uuid.uuid4()), fstype=part.fstype,
            fs_uuid=str(uuid.uuid4()) if part.fstype else None,
            mount_point=part.mount_point)).inserted_primary_key[0]
    if plan.volume_group and plan.volume_group_partition:
        size = next(x.size for x in plan.partitions if x.number == plan.volume_group_partition)
        group = conn.execute(insert(t.volume_groups).values(
            machine_id=machine_id, name=plan.volume_group,
            partition_id=by_number[plan.volume_group_partition], size=size)
        ).inserted_primary_key[0]
        for volume in plan.logical_volumes:
            conn.execute(insert(t.logical_volumes).values(
                volume_group_id=group, name=volume.name, size=volume.size,
                fstype=volume.fstype, fs_uuid=str(uuid.uuid4()),
                mount_point=volume.mount_point))


def volume_groups(conn: Connection, machine_id: int) -> list[dict[str, Any]]:
    vg, lv = t.volume_groups, t.logical_volumes
    groups = conn.execute(select(vg).where(vg.c.machine_id == machine_id).order_by(vg.c.id)
                          ).all()
    volumes = conn.execute(select(lv).where(lv.c.volume_group_id.in_([g.id for g in groups]))
                           .order_by(lv.c.id)).all() if groups else []
    out = []
    for group in groups:
        mine = [v for v in volumes if v.volume_group_id == group.id]
        used = sum(v.size for v in mine)
        out.append({"id": group.id, "name": group.name, "size": group.size,
                    "used_size": used, "available_size": group.size - used,
                    "logical_volumes": [{
                        "id": v.id, "name": f"{group.name}-{v.name}", "size": v.size,
                        "filesystem": {"fstype": v.fstype, "uuid": v.fs_uuid,
                                       "mount_point": v.mount_point} if v.fstype else None}
                        for v in mine]})
    return out


# Block devices and partitions, one change at a time (the storage API).

FSTYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs", "fat32", "vfat", "swap")
GPT_ROOM = 2 << 20  # the partition table's own space


def _device(conn: Connection, machine_id: int, device_id: int) -> Any:
    b = t.block_devices
    row = conn.execute(select(b).where(b.c.id == device_id, b.c.machine_id == machine_id)
                       ).first()
    if row is None:
        raise LookupError("No BlockDevice matches the given query.")
    return row


def _partition(conn: Connection, device_id: int, partition_id: int) -> Any:
    p = t.partitions
    row = conn.execute(select(p).where(p.c.id == partition_id,
                                       p.c.block_device_id == device_id)).first()
    if row is None:
        raise LookupError("No Partition matches the given query.")
    return row


def _check_fstype(fstype: str) -> str:
    if fstype not in FSTYPES:
        raise LayoutError(f"fstype: '{fstype}' is not one of {', '.join(FSTYPES)}.")
    return fstype


def _check_mount(fstype: str | None, mount_point: str) -> str:
    if fstype is None:
        raise LayoutError("Cannot mount an unformatted device: format it first.")
    if fstype == "swap":
        if mount_point not in ("", "none"):
            raise LayoutError("mount_point: swap is not mounted on a path (use none).")
        return "none"
    if not mount_point.startswith("/"):
        raise LayoutError(f"mount_point: '{mount_point}' is not an absolute path.")
    return mount_point


def _in_volume_group(conn: Connection, partition_id: int) -> bool:
    vg = t.volume_groups
    return conn.execute(select(vg.c.id).where(vg.c.partition_id == partition_id)
                        ).first() is not None


def format_device(conn: Connection, machine_id: int, device_id: int, fstype: str,
                  fs_uuid: str | None = None) -> None:
    device = _device(conn, machine_id, device_id)
    if conn.execute(select(t.partitions.c.id).where(
            t.partitions.c.block_device_id == device.id)).first() is not None:
        raise LayoutError(f"Cannot format {device.name}: it has partitions.")
    conn.execute(update(t.block_devices).where(t.block_devices.c.id == device.id).values(
        fstype=_check_fstype(fstype), fs_uuid=fs_uuid or str(uuid.uuid4()), mount_point=None))


def mount_device(conn: Connection, machine_id: int, device_id: int, mount_point: str) -> None:
    device = _device(conn, machine_id, device_id)
    conn.execute(update(t.block_devices).where(t.block_devices.c.id == device.id)
                 .values(mount_point=_check_mount(device.fstype, mount_point)))


def unmount_device(conn: Connection, machine_id: int, device_id: int) -> None:
    device = _device(conn, machine_id, device_id)
    if not device.mount_point:
        raise LayoutError(f"{device.name} is not mounted.")
    conn.execute(update(t.block_devices).where(t.block_devices.c.id == device.id)
                 .values(mount_point=None))


def unformat_device(conn: Connection, machine_id: int, device_id: int) -> None:
    device = _device(conn, machine_id, device_id)
    if device.fstype is None:
        raise LayoutError(f"{device.name} is not formatted.")
    if device.mount_point:
        raise LayoutError(f"{device.name} is mounted on {device.mount_point}: unmount it "
                          "first.")
    conn.execute(update(t.block_devices).where(t.block_devices.c.id == device.id)
                 .values(fstype=None, fs_uuid=None))


def set_boot_disk(conn: Connection, machine_id: int, device_id: int) -> None:
    device = _device(conn, machine_id, device_id)
    conn.execute(update(t.machines).where(t.machines.c.id == machine_id)
                 .values(boot_disk_id=device.id))


def create_partition(conn: Connection, machine_id: int, device_id: int,
                     size: int | None) -> int:
    device = _device(conn, machine_id, device_id)
    if device.fstype is not None:
        raise LayoutError(f"Cannot partition {device.name}: it is formatted as "
                          f"{device.fstype}; unformat it first.")
    p = t.partitions
    parts = conn.execute(select(p.c.number, p.c.size).where(p.c.block_device_id == device.id)
                         ).all()
    free = device.size - GPT_ROOM - sum(part.size for part in parts)
    size = free if size is None else size
    if size <= 0 or size > free:
        raise LayoutError(f"size: {device.name} has {free} bytes free; a partition of "
                          f"{size} bytes does not fit.")
    number = max((part.number for part in parts), default=0) + 1
    return conn.execute(insert(p).values(block_device_id=device.id, number=number,
                                         size=size, uuid=str(uuid.uuid4()))
                        ).inserted_primary_key[0]


def delete_partition(conn: Connection, machine_id: int, device_id: int,
                     partition_id: int) -> None:
    _device(conn, machine_id, device_id)
    part = _partition(conn, device_id, partition_id)
    if _in_volume_group(conn, part.id):
        raise LayoutError("Cannot delete a partition that holds a volume group: delete the "
                          "volume group first (set_storage_layout blank resets everything).")
    conn.execute(delete(t.partitions).where(t.partitions.c.id == part.id))


def change_partition(conn: Connection, machine_id: int, device_id: int, partition_id: int,
                     operation: str, fstype: str | None = None,
                     mount_point: str | None = None) -> None:
    """format, unformat, mount, unmount a partition."""
    _device(conn, machine_id, device_id)
    part = _partition(conn, device_id, partition_id)
    p = t.partitions
    if _in_volume_group(conn, part.id):
        raise LayoutError("This partition holds a volume group.")
    if operation == "format":
        values: dict[str, Any] = {"fstype": _check_fstype(fstype or ""),
                                  "fs_uuid": str(uuid.uuid4()), "mount_point": None}
    elif operation == "mount":
        values = {"mount_point": _check_mount(part.fstype, mount_point or "")}
    elif operation == "unmount":
        if not part.mount_point:
            raise LayoutError("The partition is not mounted.")
        values = {"mount_point": None}
    else:
        if part.fstype is None:
            raise LayoutError("The partition is not formatted.")
        if part.mount_point:
            raise LayoutError(f"The partition is mounted on {part.mount_point}: unmount it "
                              "first.")
        values = {"fstype": None, "fs_uuid": None}
    conn.execute(update(p).where(p.c.id == part.id).values(**values))
