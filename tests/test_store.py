"""The store on SQLite and PostgreSQL: migrations, loading, status writes, the monitor."""

from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, select

from baremetal.lifecycle import InvalidTransition
from baremetal.models import NodeStatus
from baremetal.store import Store, utcnow
from baremetal.store import schema as t
from baremetal.store.machines import (
    NewBlockDevice,
    NewInterface,
    NewLink,
    NewMachine,
    create_machines,
    fail_expired,
    get_machine,
    list_events,
    load_machines,
    machine_ids_query,
    set_status,
)
from baremetal.store.migrate import alembic_config, current_revision
from baremetal.store.references import create_subnet, create_tag, create_vlan, ensure_defaults
from baremetal.store.schema import metadata


def test_migrations_build_exactly_the_schema(store):
    assert current_revision(store) == "0010"
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_from_first_revision_keeps_data(database_url):
    store = Store(database_url)
    try:
        command.upgrade(alembic_config(store), "0001")
        now = utcnow()
        with store.write() as conn:
            ensure_defaults(conn)
            zone = conn.execute(select(t.zones.c.id)).scalar_one()
            domain = conn.execute(select(t.domains.c.id)).scalar_one()
            # The table as revision 0001 made it, not as the code knows it today.
            old_machines = Table("machines", MetaData(), autoload_with=conn)
            conn.execute(insert(old_machines).values(
                system_id="old001", hostname="veteran", domain_id=domain, node_type=0,
                status=int(NodeStatus.READY), agent_name="", owner_data={"k": "v"},
                description="", osystem="", distro_series="", architecture="amd64/generic",
                min_hwe_kernel="", cpu_count=8, cpu_speed=2400, memory=16384,
                power_type="ipmi", power_parameters={"power_address": "10.0.0.1"},
                power_state="off", netboot=True, locked=False, disable_ipv4=False,
                zone_id=zone, created=now, updated=now,
            ))
        store.migrate()
        assert current_revision(store) == "0010"
        with store.read() as conn:
            machine = get_machine(conn, "old001")
            cost = conn.execute(select(t.machines.c.cost)).scalar_one()
        assert machine.hostname == "veteran" and machine.owner_data == {"k": "v"}
        assert machine.status is NodeStatus.READY and machine.memory == 16384
        assert cost == pytest.approx(8 + 16384 / 1024)
    finally:
        store.dispose()


def test_create_and_load_whole_machines(store):
    with store.write() as conn:
        create_tag(conn, "gpu")
        vlan = create_vlan(conn, "fabric-1", 42, space="dmz")
        subnet = create_subnet(conn, "10.1.0.0/24", vlan, space="dmz")
        [system_id] = create_machines(conn, [NewMachine(
            hostname="alpha", cpu_count=4, memory=8192, tags=["gpu"],
            interfaces=[
                NewInterface(name="eth0", mac_address="52:54:00:aa:bb:01", vlan_id=vlan,
                             links=[NewLink(mode="static", subnet_id=subnet,
                                            ip_address="10.1.0.5")]),
                NewInterface(name="eth1", mac_address="52:54:00:aa:bb:02"),
            ],
            block_devices=[NewBlockDevice(name="sda", size=500 * 10**9, tags=["ssd"])],
        )])
    with store.read() as conn:
        machine = get_machine(conn, system_id)
    assert machine.fqdn == "alpha.maas" and machine.tags == ["gpu"]
    assert machine.status is NodeStatus.NEW and machine.zone.name == "default"
    eth0, eth1 = machine.interfaces
    assert eth0.vlan.vid == 42 and eth0.vlan.fabric == "fabric-1"
    assert eth0.links[0].subnet.space == "dmz" and machine.ip_addresses == ["10.1.0.5"]
    assert eth1.links == [] and machine.block_devices[0].path == "/dev/sda"


def test_loading_many_machines_costs_constant_queries(store):
    from sqlalchemy import event

    with store.write() as conn:
        create_machines(conn, [
            NewMachine(cpu_count=2, memory=2048,
                       interfaces=[NewInterface(name="eth0", links=[NewLink()])],
                       block_devices=[NewBlockDevice(name="sda", size=10**10)])
            for _ in range(60)
        ])
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    with store.read() as conn:
        machines = load_machines(conn, machine_ids_query())
    assert len(machines) == 60
    assert all(len(m.interfaces) == 1 and len(m.block_devices) == 1 for m in machines)
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) <= 10, queries


def test_status_writes_go_through_the_table_and_leave_events(store, admin):
    with store.write() as conn:
        [system_id] = create_machines(conn, [NewMachine(hostname="beta")], username="admin")
        set_status(conn, system_id, NodeStatus.COMMISSIONING, username="admin", comment="go")
    with pytest.raises(InvalidTransition), store.write() as conn:
        set_status(conn, system_id, NodeStatus.DEPLOYED, username="admin")
    with store.read() as conn:
        machine = get_machine(conn, system_id)
        events = list_events(conn, system_id)
    assert machine.status is NodeStatus.COMMISSIONING  # the refused write changed nothing
    assert machine.status_deadline is not None
    assert [(e["from_status"], e["to_status"]) for e in events] == [(None, 0), (0, 1)]
    assert events[1]["username"] == "admin" and events[1]["comment"] == "go"
    assert events[1]["description"] == "From 'New' to 'Commissioning': go"


def test_deadline_monitor_fails_machines_that_stop_reporting(store):
    with store.write() as conn:
        stuck, fine = create_machines(conn, [NewMachine(), NewMachine()])
        set_status(conn, stuck, NodeStatus.COMMISSIONING)
        set_status(conn, fine, NodeStatus.COMMISSIONING)
        set_status(conn, fine, NodeStatus.READY)
    with store.write() as conn:
        assert fail_expired(conn, utcnow() + timedelta(minutes=5)) == []
    with store.write() as conn:
        expired = fail_expired(conn, utcnow() + timedelta(minutes=21))
    assert [e.system_id for e in expired] == [stuck]
    with store.read() as conn:
        machine = get_machine(conn, stuck)
        events = list_events(conn, stuck)
        assert get_machine(conn, fine).status is NodeStatus.READY
    assert machine.status is NodeStatus.FAILED_COMMISSIONING
    assert machine.status_message.startswith("Commissioning timed out")
    assert machine.status_deadline is None
    assert events[-1]["to_status"] == int(NodeStatus.FAILED_COMMISSIONING)
