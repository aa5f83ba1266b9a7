"""nodes/{system_id}/volume-groups/: a machine's LVM volume groups and their logical
volumes (made by the `lvm` storage layout)."""

from __future__ import annotations

from baremetal.store.storage import volume_groups

from ..registry import API_ROOT, registry
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
