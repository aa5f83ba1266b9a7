"""A machine's storage: block devices (format, mount, boot disk), their partitions, and
LVM volume groups (made by the `lvm` storage layout). Changes only while the machine is
Ready or Allocated."""

from __future__ import annotations

from flask import Response

from baremetal.models import NodeStatus
from baremetal.storage.layouts import LayoutError, parse_size
from baremetal.store.machines import load_machines
from baremetal.store.storage import (
    change_partition,
    create_partition,
    delete_partition,
    format_device,
    mount_device,
    set_boot_disk,
    unformat_device,
    unmount_device,
    volume_groups,
)

from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..params import path_id
from ..registry import API_ROOT, registry
from ..render import Renderer
from .machines import visible_machine

groups = registry.resource("VolumeGroupsHandler", "/nodes/{system_id}/volume-groups/",
                           "The LVM volume groups of a machine.")


@groups.action("GET")
def read_volume_groups(call, system_id):  # type: ignore[no-untyped-def]
    """Every volume group: name, size, used and available size, logical volumes."""
    with call.store.read() as conn:
        machine = visible_machine(call, conn, system_id)
        found = volume_groups(conn, machine.id)
    return [{**group, "system_id": system_id, "resource_uri":
             f"{API_ROOT}/nodes/{system_id}/volume-group/{group['id']}/"} for group in found]


devices = registry.resource("BlockDevicesHandler", "/nodes/{system_id}/blockdevices/",
                            "A machine's block devices.")
device = registry.resource("BlockDeviceHandler", "/nodes/{system_id}/blockdevices/{id}/",
                           "One block device: format, mount, boot disk.")
partitions = registry.resource("PartitionsHandler",
                               "/nodes/{system_id}/blockdevices/{device_id}/partitions/",
                               "The partitions of a block device.")
partition = registry.resource("PartitionHandler",
                              "/nodes/{system_id}/blockdevices/{device_id}/partition/{id}",
                              "One partition: format, mount.")


def _disk(machine, device_id: int):  # type: ignore[no-untyped-def]
    found = [d for d in machine.block_devices if d.id == device_id]
    if not found:
        raise NotFound("No BlockDevice matches the given query.")
    return found[0]


def _change(call, system_id: str, device_id: str, change, partition_id: int | None = None):  # type: ignore[no-untyped-def]
    """One storage change in one transaction, on a machine that may change (Ready or
    Allocated; an admin, or the owner of an allocated one); the changed device or
    partition as it reads afterwards."""
    number = path_id(device_id, "BlockDevice")
    with call.store.write() as conn:
        machine = visible_machine(call, conn, system_id)
        if machine.status not in (NodeStatus.READY, NodeStatus.ALLOCATED):
            raise Conflict("Cannot change the storage of a machine that is in the "
                           f"'{machine.status.label}' state: it must be Ready or Allocated.")
        if not call.viewer.is_superuser and machine.owner != call.viewer.username:
            raise Forbidden("You don't have permission to change this machine's storage.")
        try:
            made = change(conn, machine.id, number)
        except LayoutError as error:
            raise BadRequest(str(error)) from None
        except LookupError as error:
            raise NotFound(str(error)) from None
        [machine] = load_machines(conn, [machine.id])
    disk = _disk(machine, number)
    wanted = made if isinstance(made, int) else partition_id
    if wanted is None:
        return Renderer().block_device(machine, disk)
    block = Renderer().block_device(machine, disk)
    return next(p for p in block["partitions"] if p["id"] == wanted)


@devices.action("GET")
def read_block_devices(call, system_id):  # type: ignore[no-untyped-def]
    """Every block device of the machine, with partitions and filesystems."""
    with call.store.read() as conn:
        machine = visible_machine(call, conn, system_id)
    renderer = Renderer()
    return [renderer.block_device(machine, disk) for disk in machine.block_devices]


@device.action("GET")
def read_block_device(call, system_id, id):  # type: ignore[no-untyped-def]
    """One block device."""
    with call.store.read() as conn:
        machine = visible_machine(call, conn, system_id)
    return Renderer().block_device(machine, _disk(machine, path_id(id, "BlockDevice")))


@device.action("POST", "format")
def format_block_device(call, system_id, id):  # type: ignore[no-untyped-def]
    """Format the whole device: fstype (ext4, xfs, fat32, swap, ...), uuid."""
    return _change(call, system_id, id, lambda conn, mid, did: format_device(
        conn, mid, did, call.params.required("fstype"), call.params.get("uuid") or None))


@device.action("POST", "unformat")
def unformat_block_device(call, system_id, id):  # type: ignore[no-untyped-def]
    """Remove the device's filesystem (not while mounted)."""
    return _change(call, system_id, id, unformat_device)


@device.action("POST", "mount")
def mount_block_device(call, system_id, id):  # type: ignore[no-untyped-def]
    """Mount the formatted device: mount_point (an absolute path; none for swap)."""
    return _change(call, system_id, id, lambda conn, mid, did: mount_device(
        conn, mid, did, call.params.get("mount_point") or ""))


@device.action("POST", "unmount")
def unmount_block_device(call, system_id, id):  # type: ignore[no-untyped-def]
    """Unmount the device."""
    return _change(call, system_id, id, unmount_device)


@device.action("POST", "set_boot_disk")
def set_boot_disk_action(call, system_id, id):  # type: ignore[no-untyped-def]
    """Make this the disk the bootloader and the default layout go on."""
    return _change(call, system_id, id, set_boot_disk)


@partitions.action("GET")
def read_partitions(call, system_id, device_id):  # type: ignore[no-untyped-def]
    """The device's partitions."""
    return read_block_device(call, system_id, device_id)["partitions"]


@partitions.action("POST")
def create_partition_action(call, system_id, device_id):  # type: ignore[no-untyped-def]
    """A partition: size (bytes or like 20G; default: the rest of the device)."""
    size = parse_size_param(call.params.get("size"))
    return _change(call, system_id, device_id, lambda conn, mid, did: create_partition(
        conn, mid, did, size))


@partition.action("GET")
def read_partition(call, system_id, device_id, id):  # type: ignore[no-untyped-def]
    """One partition."""
    wanted = path_id(id, "Partition")
    found = [p for p in read_partitions(call, system_id, device_id) if p["id"] == wanted]
    if not found:
        raise NotFound("No Partition matches the given query.")
    return found[0]


@partition.action("DELETE")
def delete_partition_action(call, system_id, device_id, id):  # type: ignore[no-untyped-def]
    """Delete the partition (not one that holds a volume group)."""
    number = path_id(id, "Partition")
    _change(call, system_id, device_id, lambda conn, mid, did: delete_partition(
        conn, mid, did, number))
    return Response(status=204)


def _partition_op(operation: str, doc: str):  # type: ignore[no-untyped-def]
    def action(call, system_id, device_id, id):  # type: ignore[no-untyped-def]
        number = path_id(id, "Partition")
        return _change(call, system_id, device_id, lambda conn, mid, did: change_partition(
            conn, mid, did, number, operation, fstype=call.params.get("fstype"),
            mount_point=call.params.get("mount_point")), partition_id=number)

    action.__doc__ = doc
    partition.action("POST", operation)(action)


_partition_op("format", "Format the partition: fstype (ext4, xfs, fat32, swap, ...).")
_partition_op("unformat", "Remove the partition's filesystem (not while mounted).")
_partition_op("mount", "Mount the partition: mount_point.")
_partition_op("unmount", "Unmount the partition.")


def parse_size_param(value: str | None) -> int | None:
    try:
        return parse_size(value, "size")
    except LayoutError as error:
        raise BadRequest(str(error)) from None
