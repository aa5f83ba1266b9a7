"""Which rack does the work: DHCP for a VLAN (primary, secondary, failover to another rack
on the subnet) and power jobs for a BMC (the live racks on its subnet)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from baremetal.store import schema as t
from baremetal.store.boot import create_ip_range, create_reserved_ip, dhcp_for_rack, set_vlan_dhcp
from baremetal.store.engine import utcnow
from baremetal.store.ipam import assign_auto_addresses
from baremetal.store.machines import NewInterface, NewLink, NewMachine, create_machines
from baremetal.store.power import claim_power_jobs, enqueue_power_job
from baremetal.store.racks import DOWN_AFTER, Rack, racks_for_address, register_rack, serving_rack
from baremetal.store.references import create_subnet, network_index

LEASE = timedelta(seconds=30)


def _rack(system_id: str, subnets: list[str], age: timedelta = timedelta()) -> Rack:
    now = utcnow()
    return Rack(system_id, system_id, system_id, "", [], subnets, now, now - age)


def test_serving_rack_prefers_primary_then_secondary_then_a_rack_on_the_subnet():
    now = utcnow()
    down = DOWN_AFTER + timedelta(seconds=1)
    a, b, c = (_rack("a", ["10.0.0.0/24"]), _rack("b", ["10.0.0.0/24"]),
               _rack("c", ["10.0.0.0/16"]))
    assert serving_rack("a", "b", ["10.0.0.0/24"], [a, b, c], now) == "a"
    a_down = _rack("a", ["10.0.0.0/24"], down)
    assert serving_rack("a", "b", ["10.0.0.0/24"], [a_down, b, c], now) == "b"
    b_down = _rack("b", ["10.0.0.0/24"], down)
    assert serving_rack("a", "b", ["10.0.0.0/24"], [a_down, b_down, c], now) == "c"
    assert serving_rack("a", None, ["192.168.0.0/24"], [a_down, b, c], now) is None


def test_power_goes_to_live_racks_on_the_bmc_subnet():
    now = utcnow()
    a, b = _rack("a", ["10.0.0.0/24"]), _rack("b", ["10.1.0.0/24"])
    assert racks_for_address([a, b], "10.0.0.9", now) == {"a"}
    assert racks_for_address([a, b], "10.9.0.9", now) is None  # nobody on it: anyone
    a_down = _rack("a", ["10.0.0.0/24"], DOWN_AFTER * 2)
    assert racks_for_address([a_down, b], "10.0.0.9", now) is None


def _racks(conn, *subnets):  # type: ignore[no-untyped-def]
    return [register_rack(conn, name=f"rack{i}", hostname=f"rack{i}", version="t",
                          interfaces=[], subnets=[cidr]) for i, cidr in enumerate(subnets)]


def _age(conn, system_id: str) -> None:  # type: ignore[no-untyped-def]
    conn.execute(update(t.rack_controllers).where(t.rack_controllers.c.system_id == system_id)
                 .values(last_heartbeat=utcnow() - DOWN_AFTER * 2))


def test_dhcp_moves_to_another_rack_when_the_primary_stops_beating(store):
    with store.write() as conn:
        primary, other = _racks(conn, "10.5.0.0/24", "10.5.0.0/24")
        vlan_id = min(network_index(conn)[0])
        subnet_id = create_subnet(conn, "10.5.0.0/24", vlan_id, gateway_ip="10.5.0.1")
        create_ip_range(conn, subnet_id, "dynamic", "10.5.0.100", "10.5.0.199")
        create_ip_range(conn, subnet_id, "reserved", "10.5.0.2", "10.5.0.9")
        create_reserved_ip(conn, subnet_id, "10.5.0.50", "52:54:00:00:05:50")
        machine = NewMachine(hostname="static1", interfaces=[NewInterface(
            name="eth0", mac_address="52:54:00:00:05:51",
            links=[NewLink(mode="static", subnet_id=subnet_id, ip_address="10.5.0.51")])])
        deployed = NewMachine(hostname="auto1", interfaces=[NewInterface(
            name="eth0", mac_address="52:54:00:00:05:52",
            links=[NewLink(mode="auto", subnet_id=subnet_id)])])
        create_machines(conn, [machine, deployed])
        auto_id = conn.execute(t.machines.select().where(
            t.machines.c.hostname == "auto1")).first().id
        assert assign_auto_addresses(conn, auto_id) == ["10.5.0.52"]  # after .51
        assert dhcp_for_rack(conn, primary) == []  # DHCP is off on the VLAN
        set_vlan_dhcp(conn, vlan_id, dhcp_on=True, primary_rack=primary)
        [served] = dhcp_for_rack(conn, primary)
        assert dhcp_for_rack(conn, other) == []
        _age(conn, primary)
        assert dhcp_for_rack(conn, primary) == []
        assert dhcp_for_rack(conn, other) == [served]
    assert served["ranges"] == [{"start": "10.5.0.100", "end": "10.5.0.199"}]
    assert served["gateway"] == "10.5.0.1"
    # Host reservations, and machines' static and deployed (AUTO) addresses: a machine
    # that falls back to DHCP still gets its address.
    assert sorted((r["mac"], r["ip"]) for r in served["reservations"]) == [
        ("52:54:00:00:05:50", "10.5.0.50"), ("52:54:00:00:05:51", "10.5.0.51"),
        ("52:54:00:00:05:52", "10.5.0.52")]


def test_power_jobs_go_to_a_rack_on_the_bmc_subnet_and_fail_over(store):
    with store.write() as conn:
        near, far = _racks(conn, "10.6.0.0/24", "10.7.0.0/24")
        [system_id] = create_machines(conn, [NewMachine(
            hostname="bmc1", power_type="ipmi", power_parameters={
                "power_address": "10.6.0.20:623", "power_user": "u", "power_pass": "p"})])
        machine_id = conn.execute(t.machines.select().where(
            t.machines.c.system_id == system_id)).first().id
        enqueue_power_job(conn, machine_id, "on", "admin")
    assert claim_power_jobs(store, far, 10, LEASE, rack=far) == []
    [job] = claim_power_jobs(store, near, 10, LEASE, rack=near)
    assert job.system_id == system_id
    with store.write() as conn:
        enqueue_power_job(conn, machine_id, "off", "admin")
        conn.execute(update(t.power_jobs).where(t.power_jobs.c.id == job.id)
                     .values(status="done"))
        _age(conn, near)  # the near rack stops beating: the far one may try
    [again] = claim_power_jobs(store, far, 10, LEASE, rack=far)
    assert again.action == "off"


def test_a_rack_polls_only_the_bmcs_it_should_reach(store):
    from baremetal.store.power import machines_to_poll

    with store.write() as conn:
        near, far = _racks(conn, "10.8.0.0/24", "10.9.0.0/24")
        create_machines(conn, [NewMachine(
            hostname=f"p{n}", power_type="ipmi", power_parameters={
                "power_address": address, "power_user": "u", "power_pass": "p"})
            for n, address in enumerate(("10.8.0.5", "10.9.0.5", "127.0.0.1:9999"))])
    polled = {rack: sorted(p.power_parameters["power_address"]
                           for p in machines_to_poll(store, ("ipmi",), 100, rack=rack))
              for rack in (near, far)}
    assert polled == {near: ["10.8.0.5", "127.0.0.1:9999"], far: ["10.9.0.5", "127.0.0.1:9999"]}
