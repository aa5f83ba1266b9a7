"""Storage layouts: the pure plans on disks of several sizes, and `set_storage_layout`
through the API, read back as python-libmaas parses partitions, filesystems and volume
groups; a layout that does not fit is a 400 that changes nothing."""

from __future__ import annotations

import pytest

from baremetal.storage.layouts import GIB, MIB, LayoutError, parse_size, plan_layout


@pytest.mark.parametrize("size", [8 * GIB, 100 * GIB, 4 << 40])
def test_flat_gives_bios_boot_esp_and_the_rest_to_root(size):
    plan = plan_layout("flat", "sda", size)
    assert [(p.number, p.role, p.fstype, p.mount_point) for p in plan.partitions] == [
        (1, "bios_grub", None, None), (2, "esp", "fat32", "/boot/efi"),
        (3, "root", "ext4", "/")]
    assert plan.partitions[0].size == 1 * MIB and plan.partitions[1].size == 512 * MIB
    assert sum(p.size for p in plan.partitions) == size - 2 * MIB  # GPT's own room


def test_lvm_boot_size_root_size_and_blank():
    plan = plan_layout("lvm", "sda", 100 * GIB, boot_size=1 * GIB, root_size=20 * GIB)
    assert [(p.role, p.mount_point) for p in plan.partitions] == [
        ("bios_grub", None), ("esp", "/boot/efi"), ("boot", "/boot"), ("lvm", None)]
    assert (plan.volume_group, plan.volume_group_partition) == ("vgroot", 4)
    [root] = plan.logical_volumes
    assert (root.name, root.size, root.fstype, root.mount_point) == (
        "lvroot", 20 * GIB, "ext4", "/")
    flat = plan_layout("flat", "sda", 100 * GIB, root_size=10 * GIB)
    assert flat.partitions[-1].size == 10 * GIB
    assert plan_layout("blank", "sda", 1 * GIB).partitions == ()


@pytest.mark.parametrize(("layout", "size", "options", "message"), [
    ("flat", 2 * GIB, {}, "The flat layout does not fit sda (2.0 GiB): it needs 3.5 GiB"),
    ("lvm", 4 * GIB, {"boot_size": 1 * GIB}, "and a root of 3.0 GiB"),
    ("flat", 100 * GIB, {"root_size": 1 * GIB}, "root_size: at least 3.0 GiB"),
    ("flat", 100 * GIB, {"boot_size": 1 * MIB}, "boot_size: at least 512 MiB"),
    ("zfs", 100 * GIB, {}, "storage_layout: 'zfs' is not one of flat, lvm, blank."),
])
def test_layouts_that_cannot_be_applied_say_why(layout, size, options, message):
    with pytest.raises(LayoutError) as refused:
        plan_layout(layout, "sda", size, **options)
    assert message in str(refused.value)


def test_sizes_as_maas_writes_them():
    assert parse_size("512M", "x") == 512 * MIB and parse_size("1.5G", "x") == 3 * GIB // 2
    assert parse_size(10737418240, "x") == 10 * GIB and parse_size("", "x") is None
    with pytest.raises(LayoutError, match="'lots' is not a size"):
        parse_size("lots", "x")


def test_set_storage_layout_read_back_by_python_libmaas(tmp_path):
    """python-libmaas 0.6.8 has no set_storage_layout call (plain requests set it); it
    parses what the machine reads show: partitions with their filesystems."""
    import asyncio

    import requests
    from maas.client import connect

    from baremetal.store.machines import NewBlockDevice, NewMachine

    from .api import oauth_header
    from .conftest import add_ready
    from .live import start_region, stop_region

    region = start_region(tmp_path, command="region")
    headers = {"Authorization": oauth_header(region.admin_key)}

    def layout(system_id: str, **data: str) -> requests.Response:
        return requests.post(region.api + f"machines/{system_id}/", headers=headers,
                             params={"op": "set_storage_layout"}, data=data, timeout=30)

    try:
        [system_id] = add_ready(region.store, [NewMachine(hostname="disky", block_devices=[
            NewBlockDevice(name="sda", size=2 * GIB), NewBlockDevice(name="sdb", size=64 * GIB)])])
        asyncio.set_event_loop(asyncio.new_event_loop())
        client = connect(region.url, apikey=region.admin_key)
        # The boot disk (sda, 2 GiB) is too small: a 400 that names it, nothing changes.
        refused = layout(system_id, storage_layout="flat")
        assert refused.status_code == 400 and "does not fit sda (2.0 GiB)" in refused.text
        assert layout(system_id, storage_layout="flat", root_device="sdz").status_code == 400
        done = layout(system_id, storage_layout="lvm", root_device="sdb", boot_size="1G",
                      root_size="20G")
        assert done.status_code == 200, done.text
        machine = client.machines.get(system_id)
        disks = {d.name: d for d in machine.block_devices}
        mounts = [(p.filesystem.fstype if p.filesystem else None,
                   p.filesystem.mount_point if p.filesystem else None)
                  for p in disks["sdb"].partitions]
        assert mounts == [(None, None), ("fat32", "/boot/efi"), ("ext4", "/boot"), (None, None)]
        assert not disks["sda"].partitions
        assert machine.boot_disk.name == "sdb"
        [group] = requests.get(region.api + f"nodes/{system_id}/volume-groups/", timeout=30,
                               headers=headers).json()
        assert group["name"] == "vgroot"
        [root] = group["logical_volumes"]
        assert (root["name"], root["size"], root["filesystem"]["mount_point"]) == (
            "vgroot-lvroot", 20 * GIB, "/")
        assert layout(system_id, storage_layout="flat", root_device="sdb").status_code == 200
        sdb = {d.name: d for d in client.machines.get(system_id).block_devices}["sdb"]
        assert [p.filesystem.mount_point for p in sdb.partitions if p.filesystem] == [
            "/boot/efi", "/"]
        assert requests.get(region.api + f"nodes/{system_id}/volume-groups/", timeout=30,
                            headers=headers).json() == []
    finally:
        stop_region(region)


def test_block_devices_and_partitions_one_change_at_a_time(api):
    machine = api.call("GET", "machines/", api.admin_key).get_json()[0]
    system_id = machine["system_id"]
    base = f"nodes/{system_id}/blockdevices/"
    post = lambda path, key=None, **data: api.call(  # noqa: E731
        "POST", path, key or api.admin_key, data=data)
    assert post(f"machines/{system_id}/?op=set_storage_layout",
                storage_layout="blank").status_code == 200
    [disk] = api.call("GET", base, api.admin_key).get_json()
    one = f"{base}{disk['id']}/"
    made = post(f"{one}partitions/", size="10G")
    assert made.status_code == 200, made.get_data(as_text=True)
    part = made.get_json()
    assert part["size"] == 10 * GIB and part["filesystem"] is None
    uri = f"{base}{disk['id']}/partition/{part['id']}"
    assert post(f"{uri}?op=format", fstype="ext4").get_json()["filesystem"]["fstype"] == "ext4"
    mounted = post(f"{uri}?op=mount", mount_point="/srv").get_json()
    assert mounted["filesystem"]["mount_point"] == "/srv"
    assert api.call("GET", uri, api.admin_key).get_json()["used_for"] == \
        "ext4 formatted filesystem"
    for path, data, message in (
            (f"{one}?op=format", {"fstype": "ext4"}, "it has partitions"),
            (f"{one}partitions/", {"size": "10T"}, "does not fit"),
            (f"{uri}?op=unformat", {}, "is mounted on /srv: unmount it first"),
            (f"{uri}?op=format", {"fstype": "ntfs"}, "fstype: 'ntfs' is not one of"),
            (f"{uri}?op=mount", {"mount_point": "srv"}, "is not an absolute path")):
        refused = post(path, **data)
        assert refused.status_code == 400, (path, refused.get_data(as_text=True))
        assert message in refused.get_data(as_text=True)
    second = post(f"{one}partitions/").get_json()  # the rest of the disk
    assert second["size"] == disk["size"] - 10 * GIB - 2 * MIB
    mount_raw = post(f"{base}{disk['id']}/partition/{second['id']}?op=mount", mount_point="/x")
    assert "Cannot mount an unformatted device" in mount_raw.get_data(as_text=True)
    assert post(f"{uri}?op=unmount").status_code == 200
    assert post(f"{uri}?op=unformat").get_json()["filesystem"] is None
    assert api.call("DELETE", uri, api.admin_key).status_code == 204
    assert api.call("GET", uri, api.admin_key).status_code == 404
    assert post(f"{one}?op=set_boot_disk").status_code == 200
    assert post(f"{one}?op=format", api.user_key, fstype="ext4").status_code == 403
    # Only while Ready or Allocated.
    api.call("POST", f"machines/{system_id}/?op=mark_broken", api.admin_key)
    broken = post(f"{one}partitions/", size="1G")
    assert broken.status_code == 409 and "must be Ready or Allocated" in broken.get_data(
        as_text=True)
