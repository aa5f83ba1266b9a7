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
