"""Every object the API returns has the fields gomaasapi and python-libmaas require
(present and non-null) and the nullable ones (present), as ../shared/MAAS-API.md lists."""

from __future__ import annotations

import base64

import pytest

REQUIRED = "required"
NULLABLE = "nullable"

SCHEMAS: dict[str, dict[str, set[str]]] = {
    "machine": {
        REQUIRED: {"resource_uri", "system_id", "hostname", "fqdn", "tag_names", "owner_data",
                   "osystem", "distro_series", "memory", "cpu_count", "ip_addresses",
                   "power_state", "status_name", "zone", "interface_set", "blockdevice_set",
                   "physicalblockdevice_set", "status", "power_type", "domain", "node_type",
                   "netboot", "locked", "min_hwe_kernel", "disable_ipv4", "status_action"},
        NULLABLE: {"architecture", "hardware_info", "status_message", "boot_interface",
                   "pool", "owner", "hwe_kernel", "boot_disk"},
    },
    "interface": {
        REQUIRED: {"resource_uri", "id", "name", "type", "enabled", "links", "effective_mtu",
                   "parents", "children"},
        NULLABLE: {"tags", "vlan", "mac_address"},
    },
    "link": {REQUIRED: {"id", "mode"}, NULLABLE: set()},
    "subnet": {REQUIRED: {"resource_uri", "id", "name", "space", "cidr", "vlan"},
               NULLABLE: {"gateway_ip", "dns_servers"}},
    "vlan": {REQUIRED: {"id", "resource_uri", "fabric", "vid", "mtu", "dhcp_on"},
             NULLABLE: {"name", "primary_rack", "secondary_rack"}},
    "block_device": {
        REQUIRED: {"resource_uri", "id", "name", "path", "used_for", "tags", "block_size",
                   "used_size", "size", "partitions"},
        NULLABLE: {"uuid", "model", "id_path", "filesystem"},
    },
    "partition": {REQUIRED: {"resource_uri", "id", "path", "used_for", "size"},
                  NULLABLE: set()},
    "zone": {REQUIRED: {"id", "name", "description", "resource_uri"}, NULLABLE: set()},
    "pool": {REQUIRED: {"id", "name", "description", "resource_uri"}, NULLABLE: set()},
    "domain": {REQUIRED: {"id", "name", "authoritative", "resource_record_count",
                          "is_default", "resource_uri"}, NULLABLE: {"ttl"}},
    "space": {REQUIRED: {"resource_uri", "id", "name", "subnets", "vlans"}, NULLABLE: set()},
    "fabric": {REQUIRED: {"id", "name", "resource_uri", "vlans"}, NULLABLE: {"class_type"}},
    "file": {REQUIRED: {"filename", "content", "resource_uri", "anon_resource_uri"},
             NULLABLE: set()},
    "version": {REQUIRED: {"capabilities", "version", "subversion"}, NULLABLE: set()},
    "tag": {REQUIRED: {"name", "definition", "comment", "kernel_opts", "resource_uri"},
            NULLABLE: set()},
    "user": {REQUIRED: {"username", "email", "is_superuser", "is_local"}, NULLABLE: set()},
    "boot-resource": {REQUIRED: {"id", "type", "name", "architecture", "subarches",
                                 "resource_uri"}, NULLABLE: set()},
}


def check(kind: str, obj: dict, where: str = "") -> int:
    """Check obj and every nested object; returns how many objects were checked."""
    schema = SCHEMAS[kind]
    where = where or kind
    for field in schema[REQUIRED]:
        assert field in obj, f"{where}: missing {field}"
        assert obj[field] is not None, f"{where}: {field} is null"
    for field in schema[NULLABLE]:
        assert field in obj, f"{where}: missing nullable {field}"
    checked = 1
    nested = {"zone": "zone", "pool": "pool", "domain": "domain", "vlan": "vlan",
              "subnet": "subnet", "boot_interface": "interface", "boot_disk": "block_device"}
    lists = {"interface_set": "interface", "blockdevice_set": "block_device",
             "physicalblockdevice_set": "block_device", "links": "link",
             "partitions": "partition", "subnets": "subnet", "vlans": "vlan"}
    for field, sub in nested.items():
        if isinstance(obj.get(field), dict):
            checked += check(sub, obj[field], f"{where}.{field}")
    for field, sub in lists.items():
        for n, item in enumerate(obj.get(field) or []):
            checked += check(sub, item, f"{where}.{field}[{n}]")
    if kind == "machine":
        assert obj["power_state"] in ("on", "off", "unknown", "error")
        assert isinstance(obj["memory"], int) and isinstance(obj["cpu_count"], int)
        assert obj["resource_uri"] == f"/MAAS/api/2.0/machines/{obj['system_id']}/"
        assert obj["architecture"] is None or "/" in obj["architecture"]
    return checked


def get(api, path, key=None):  # type: ignore[no-untyped-def]
    response = api.call("GET", path, key or api.admin_key)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_machines_and_everything_inside_them(api):
    with api.store.write() as conn:
        from sqlalchemy import insert, select

        from baremetal.store import schema as t
        disk = conn.execute(select(t.block_devices.c.id)).scalars().first()
        conn.execute(insert(t.partitions).values(block_device_id=disk, number=1,
                                                 size=10**9, fstype="ext4", fs_uuid="u1"))
    machines = get(api, "machines/")
    assert len(machines) == 4
    checked = sum(check("machine", m) for m in machines)
    assert checked >= 4 * 7  # machine, zone, pool, domain, interface, link, subnet, vlan, disk
    one = get(api, f"machines/{machines[0]['system_id']}/")
    check("machine", one)
    assert any(d["partitions"] for m in machines for d in m["blockdevice_set"])
    allocated = api.call("POST", "machines/?op=allocate", api.admin_key).get_json()
    check("machine", allocated)
    assert allocated["constraints_by_type"] == {}


@pytest.mark.parametrize(("path", "kind"), [
    ("zones/", "zone"), ("resourcepools/", "pool"), ("pools/", "pool"),
    ("domains/", "domain"), ("spaces/", "space"), ("fabrics/", "fabric"),
    ("subnets/", "subnet"), ("tags/", "tag"), ("users/", "user"),
])
def test_collections(api, path, kind):
    items = get(api, path)
    assert items, f"{path} returned nothing to check"
    for item in items:
        check(kind, item)


def test_single_objects(api):
    check("version", get(api, "version/"))
    check("zone", get(api, "zones/z1/"))
    check("pool", get(api, "resourcepool/1/"))
    check("subnet", get(api, "subnets/1/"))
    check("tag", get(api, "tags/gpu/"))
    check("user", get(api, "users/?op=whoami"))
    vlans = get(api, "fabrics/1/vlans/")
    for vlan in vlans:
        check("vlan", vlan)
    check("vlan", get(api, f"vlans/{vlans[0]['id']}/"))


def test_files_round_trip(api):
    posted = api.call("POST", "files/?op=", api.admin_key, data={
        "filename": "provider-state",
        "file": (__import__("io").BytesIO(b"state: 1\n"), "provider-state")})
    assert posted.status_code == 201, posted.get_data(as_text=True)
    stored = get(api, "files/provider-state/")
    check("file", stored)
    assert base64.b64decode(stored["content"]) == b"state: 1\n"
    assert [f["filename"] for f in get(api, "files/?prefix=provider")] == ["provider-state"]
    raw = api.call("GET", "files/?op=get&filename=provider-state", api.admin_key)
    assert raw.data == b"state: 1\n"
    assert api.call("GET", "files/missing/", api.admin_key).status_code == 404
    assert api.call("DELETE", "files/provider-state/", api.admin_key).status_code == 204
    assert api.call("GET", "files/provider-state/", api.admin_key).status_code == 404
    # Files are per user.
    assert get(api, "files/", api.user_key) == []


def test_boot_resources_have_the_shape_juju_reads(api):
    resources = get(api, "boot-resources/")
    assert {r["name"] for r in resources} == {"debian/bookworm", "ubuntu/jammy",
                                              "ubuntu/noble"}
    for resource in resources:
        check("boot-resource", resource)
        assert resource["architecture"] == "amd64/generic"
        assert resource["type"] == "Generated"
    detail = get(api, f"boot-resources/{resources[0]['id']}/")
    [version] = detail["sets"].values()
    assert version["complete"] is True
    assert all(f["complete"] and len(f["sha256"]) == 64 for f in version["files"].values())


def test_static_routes_and_racks_are_lists(api):
    assert get(api, "static-routes/") == []
    assert get(api, "rackcontrollers/") == []


def test_shaped_interfaces_keep_the_shape_clients_parse(api):
    """Bonds, VLANs and bridges with links, as gomaasapi and python-libmaas parse them."""
    machine = get(api, "machines/")[1]
    system_id = machine["system_id"]
    base = f"nodes/{system_id}/interfaces/"
    api.call("POST", "subnets/", api.admin_key, data={"cidr": "10.30.0.0/24"})
    nic = machine["interface_set"][0]["id"]
    api.call("POST", f"{base}{nic}/?op=unlink_subnet", api.admin_key,
             data={"id": machine["interface_set"][0]["links"][0]["id"]})
    bond = api.call("POST", f"{base}?op=create_bond", api.admin_key,
                    data={"name": "bond0", "parents": [nic], "bond_mode": "active-backup"})
    assert bond.status_code == 200, bond.get_data(as_text=True)
    bridge = api.call("POST", f"{base}?op=create_bridge", api.admin_key,
                      data={"name": "br0", "parent": bond.get_json()["id"]}).get_json()
    api.call("POST", f"{base}{bridge['id']}/?op=link_subnet", api.admin_key,
             data={"mode": "static", "subnet": "10.30.0.0/24"})
    nics = get(api, base)
    assert {n["type"] for n in nics} == {"physical", "bond", "bridge"}
    for one in nics:
        check("interface", one)
        for link in one["links"]:
            check("link", link)
    read = get(api, f"machines/{system_id}/")
    check("machine", read)
    assert read["ip_addresses"] == ["10.30.0.1"]
