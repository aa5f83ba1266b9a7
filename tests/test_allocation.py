"""Allocation semantics, one constraint at a time, on SQLite and PostgreSQL."""

import pytest

from baremetal.constraints import ConstraintError, parse_allocation
from baremetal.models import NodeStatus
from baremetal.store.allocation import NoMatch, allocate_machine
from baremetal.store.machines import (
    NewBlockDevice,
    NewInterface,
    NewLink,
    NewMachine,
    create_machines,
    get_machine,
    list_events,
)
from baremetal.store.references import (
    create_pool,
    create_subnet,
    create_tag,
    create_vlan,
    create_zone,
)

from .conftest import add_ready

GB = 10**9


@pytest.fixture
def pool(store):
    """Three Ready machines of rising cost and one cheaper New one that must never be taken."""
    with store.write() as conn:
        for zone in ("z1", "z2"):
            create_zone(conn, zone)
        create_pool(conn, "ops")
        create_tag(conn, "gpu")
        create_tag(conn, "bigmem")
        create_tag(conn, "unused")
        internal_vlan = create_vlan(conn, "fabric-1", 0, space="internal")
        internal = create_subnet(conn, "10.0.0.0/24", internal_vlan, space="internal")
        storage_vlan = create_vlan(conn, "storage", 42, space="storage")
        storage = create_subnet(conn, "10.42.0.0/24", storage_vlan, space="storage")
        create_machines(conn, [NewMachine(hostname="fresh", cpu_count=1, memory=512)])

    def nic(name, vlan, subnet, ip, speed=1000):
        return NewInterface(name=name, vlan_id=vlan, link_speed=speed,
                            links=[NewLink(mode="auto", subnet_id=subnet, ip_address=ip)])

    small, medium, large = add_ready(store, [
        NewMachine(hostname="small", cpu_count=2, memory=2048,
                   interfaces=[nic("eth0", internal_vlan, internal, "10.0.0.11")],
                   block_devices=[NewBlockDevice(name="sda", size=100 * GB, tags=["ssd"])]),
        NewMachine(hostname="medium", cpu_count=4, memory=8192, zone="z1", tags=["gpu"],
                   interfaces=[nic("eth0", internal_vlan, internal, "10.0.0.12"),
                               nic("eth1", storage_vlan, storage, "10.42.0.7", 10000)],
                   block_devices=[
                       NewBlockDevice(name="sda", size=200 * GB, tags=["ssd"]),
                       NewBlockDevice(name="sdb", size=1000 * GB, tags=["hdd", "rotary"]),
                   ]),
        NewMachine(hostname="large", cpu_count=16, memory=65536, zone="z2", pool="ops",
                   tags=["gpu", "bigmem"], architecture="arm64/generic",
                   block_devices=[NewBlockDevice(name="nvme0n1", size=2000 * GB,
                                                 tags=["nvme"])]),
    ])
    return {"small": small, "medium": medium, "large": large}


def allocate(store, user, **params):
    constraints, options = parse_allocation(
        {k: v if isinstance(v, list) else [v] for k, v in params.items()})
    return allocate_machine(store, constraints, options, user)


def hostname(store, user, **params):
    return allocate(store, user, **params).machine.hostname


@pytest.mark.parametrize(("params", "expected"), [
    ({}, "small"),
    ({"cpu_count": "3"}, "medium"),
    ({"cpu_count": "4.0", "mem": "8192.0"}, "medium"),
    ({"mem": "8193"}, "large"),
    ({"tags": "gpu"}, "medium"),
    ({"tags": "gpu,bigmem"}, "large"),
    ({"tags": ["gpu", "bigmem"]}, "large"),
    ({"not_tags": "gpu"}, "small"),
    ({"zone": "z2"}, "large"),
    ({"not_in_zone": ["default", "z1"]}, "large"),
    ({"not_in_zones": "default"}, "medium"),
    ({"pool": "ops"}, "large"),
    ({"not_in_pool": "default"}, "large"),
    ({"arch": "arm64"}, "large"),
    ({"arch": ["amd64/generic", "arm64"], "cpu_count": "8"}, "large"),
    ({"name": "medium"}, "medium"),
    ({"name": "large.maas"}, "large"),
    ({"subnets": "space:storage"}, "medium"),
    ({"subnets": "ip:10.42.0.200"}, "medium"),
    ({"subnets": "10.0.0.0/24", "not_subnets": "vid:42"}, "small"),
    ({"not_subnets": "space:internal"}, "large"),
    ({"fabrics": "storage"}, "medium"),
    ({"not_fabrics": "fabric-1"}, "large"),
    ({"storage": "root:150"}, "medium"),
    ({"storage": "root:50(ssd),data:500(rotary)"}, "medium"),
    ({"storage": "root:1500"}, "large"),
    ({"interfaces": "fast:link_speed=10000"}, "medium"),
    ({"interfaces": "a:space=internal;b:not_space=internal"}, "medium"),
    ({"interfaces": "pxe:mode=auto,not_vid=42"}, "small"),
])
def test_each_constraint(store, admin, pool, params, expected):
    assert hostname(store, admin, **params) == expected


def test_system_id(store, admin, pool):
    assert hostname(store, admin, system_id=pool["large"]) == "large"


def test_constraints_by_type_names_the_returned_machines_devices(store, admin, pool):
    allocation = allocate(store, admin, storage="root:50(ssd),data:500(rotary)",
                          interfaces="pxe:space=internal;fast:fabric=storage")
    machine = allocation.machine
    disks = {d.name: d.id for d in machine.block_devices}
    nics = {i.name: i.id for i in machine.interfaces}
    assert allocation.constraints_by_type == {
        "storage": {"root": [disks["sda"]], "data": [disks["sdb"]]},
        "interfaces": {"pxe": [nics["eth0"]], "fast": [nics["eth1"]]},
    }
    assert allocate(store, admin, zone="z2").constraints_by_type == {}


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"zone": "nowhere"}, "zone", "No such zone: 'nowhere'."),
    ({"not_in_zone": "z1,nowhere"}, "not_in_zone", "No such zone(s): 'nowhere'."),
    ({"pool": "deep"}, "pool", "No such pool: 'deep'."),
    ({"tags": "gpu,shiny"}, "tags", "No such tag(s): 'shiny'."),
    ({"arch": "sparc"}, "arch", "Architecture not recognised: 'sparc'."),
    ({"colour": "red"}, "colour", "No such constraint."),
    ({"storage": "root:big"}, "storage", "Malformed storage constraint at 'root:big'"),
])
def test_bad_constraints(store, admin, pool, params, field, message):
    with pytest.raises(ConstraintError) as raised:
        allocate(store, admin, **params)
    assert raised.value.field == field
    assert raised.value.message.startswith(message)


@pytest.mark.parametrize("params", [
    {"cpu_count": "64"},
    {"tags": "unused"},
    {"zone": "z1", "tags": "bigmem"},
    {"storage": "root:50,a:50,b:50"},
    {"interfaces": "a:fabric=storage;b:fabric=storage"},
    {"name": "fresh"},  # exists, but New
])
def test_no_match(store, admin, pool, params):
    with pytest.raises(NoMatch) as raised:
        allocate(store, admin, **params)
    assert str(raised.value).startswith("No available machine matches constraints: ")


def test_allocation_records_owner_agent_and_event(store, admin, pool):
    machine = allocate(store, admin, agent_name="juju-model-1", comment="for juju").machine
    assert machine.status is NodeStatus.ALLOCATED and machine.owner == "admin"
    with store.read() as conn:
        stored = get_machine(conn, machine.system_id)
        events = list_events(conn, machine.system_id)
    assert stored.status is NodeStatus.ALLOCATED
    assert stored.owner == "admin" and stored.agent_name == "juju-model-1"
    assert events[-1]["from_status"] == int(NodeStatus.READY)
    assert events[-1]["to_status"] == int(NodeStatus.ALLOCATED)
    assert events[-1]["comment"] == "for juju" and events[-1]["username"] == "admin"
    # Taken machines are not offered again: the next cheapest is.
    assert hostname(store, admin) == "medium"
    assert hostname(store, admin) == "large"
    with pytest.raises(NoMatch):
        allocate(store, admin)


def test_dry_run_changes_nothing(store, admin, pool):
    allocation = allocate(store, admin, dry_run="true", tags="gpu")
    assert allocation.machine.hostname == "medium"
    with store.read() as conn:
        stored = get_machine(conn, pool["medium"])
        events = list_events(conn, pool["medium"])
    assert stored.status is NodeStatus.READY and stored.owner is None
    assert events[-1]["to_status"] == int(NodeStatus.READY)
    assert hostname(store, admin, tags="gpu") == "medium"  # still there to be taken
