"""python-libmaas 0.6.8, the real client, against a live region process."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from maas.client import connect, login
from maas.client.enum import NodeStatus as ClientStatus
from maas.client.enum import PowerState as ClientPowerState
from maas.client.viscera.machines import MachineNotFound

from baremetal.models import NodeStatus
from baremetal.store.machines import NewBlockDevice, NewInterface, NewMachine
from baremetal.store.references import create_tag, create_zone

from .conftest import add_ready
from .live import start_bmcs, start_region, stop_region


@pytest.fixture(scope="module")
def bmcs():
    process, ports = start_bmcs(6, password="bmc-secret")
    yield ports
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def region(tmp_path_factory, bmcs):
    asyncio.set_event_loop(asyncio.new_event_loop())
    region = start_region(tmp_path_factory.mktemp("region"))
    with region.store.write() as conn:
        create_zone(conn, "z1")
        create_zone(conn, "z2")
        create_tag(conn, "gpu")
    add_ready(region.store, [
        NewMachine(hostname=f"node{n}", cpu_count=2 + n, memory=2048 * (n + 1),
                   zone="z1" if n % 2 else "z2", tags=["gpu"] if n >= 3 else [],
                   power_type="ipmi",
                   power_parameters={"power_address": f"127.0.0.1:{bmcs[n]}",
                                     "power_user": "admin", "power_pass": "bmc-secret"},
                   interfaces=[NewInterface(name="eth0", mac_address=f"52:54:00:00:01:{n:02x}")],
                   block_devices=[NewBlockDevice(name="sda", size=(100 + n) * 10**9)])
        for n in range(6)
    ])
    yield region
    stop_region(region)
    log = region.log()
    assert "Traceback" not in log
    for secret in ("bmc-secret", region.admin_key.split(":")[2], "alice-password"):
        assert secret not in log


@pytest.fixture(scope="module")
def client(region):
    return connect(region.url, apikey=region.admin_key)


def test_version_and_whoami(client):
    assert client.version.get().version == "3.5.0"
    me = client.users.whoami()
    assert me.username == "admin" and me.is_admin


def test_login_with_password(region):
    logged_in = login(region.url, username="alice", password="alice-password")
    assert logged_in.users.whoami().username == "alice"
    with pytest.raises(Exception, match="403"):
        login(region.url, username="alice", password="wrong")


def test_list_and_get_machines(client):
    machines = client.machines.list()
    assert sorted(m.hostname for m in machines) == [f"node{n}" for n in range(6)]
    node = next(m for m in machines if m.hostname == "node2")
    again = client.machines.get(node.system_id)
    assert again.fqdn == "node2.maas" and again.cpus == 4 and again.memory == 6144
    assert again.status == ClientStatus.READY and again.status_name == "Ready"
    assert again.zone.name == "z2" and again.architecture == "amd64/generic"
    assert [i.mac_address for i in again.interfaces] == ["52:54:00:00:01:02"]
    assert again.block_devices[0].size == 102 * 10**9
    assert again.power_type == "ipmi"


def test_zones(client):
    assert {z.name for z in client.zones.list()} >= {"default", "z1", "z2"}


def test_allocate_with_constraints_deploy_and_release(region, client):
    machine = client.machines.allocate(cpus=3, memory=4000, tags=["gpu"], zone="z1",
                                       not_zones=["z2"], agent_name="juju-1")
    assert machine.hostname == "node3"  # cheapest gpu machine in z1 with >=3 cpus, >=4000 MiB
    assert machine.status == ClientStatus.ALLOCATED and machine.owner.username == "admin"
    deployed = machine.deploy(user_data=b"#cloud-config\nruncmd: [touch /marker]\n",
                              distro_series="ubuntu/22.04")
    assert deployed.status == ClientStatus.DEPLOYING
    assert deployed.distro_series == "jammy" and deployed.osystem == "ubuntu"
    with region.store.read() as conn:
        from baremetal.store.machines import get_machine
        stored = get_machine(conn, machine.system_id)
    assert stored.status is NodeStatus.DEPLOYING
    released = deployed.release(comment="done")
    assert released.status == ClientStatus.READY
    assert released.owner is None and released.owner_data == {}


def test_allocate_without_match_raises_machine_not_found(client):
    with pytest.raises(MachineNotFound):
        client.machines.allocate(cpus=64)


def _ipmitool_power(port: int) -> str:
    """An independent look at the virtual BMC: Debian's ipmitool over UDP."""
    done = subprocess.run(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port),
                           "-U", "admin", "-P", "bmc-secret", "chassis", "power", "status"],
                          capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def test_power_on_off_and_query_reach_the_bmc(client, bmcs):
    machine = next(m for m in client.machines.list() if m.hostname == "node0")
    assert machine.power_on(wait=False).system_id == machine.system_id
    # The query is queued behind the power-on job of the same machine, so it sees its result.
    assert machine.query_power_state() == ClientPowerState.ON
    assert _ipmitool_power(bmcs[0]) == "Chassis Power is on"
    assert machine.power_off(wait=False).system_id == machine.system_id
    assert machine.query_power_state() == ClientPowerState.OFF
    assert _ipmitool_power(bmcs[0]) == "Chassis Power is off"
    assert client.machines.get(machine.system_id).power_state == ClientPowerState.OFF


def test_watcher_sequence(region, bmcs):
    """OpenStack Watcher's MAAS helper: connect, list (match on fqdn), get, power."""
    maas = connect(region.url, apikey=region.admin_key)
    by_fqdn = {m.fqdn: m for m in maas.machines.list()}
    node = by_fqdn["node1.maas"]
    fetched = maas.machines.get(node.system_id)
    assert fetched.query_power_state() == ClientPowerState.OFF
    fetched.power_on()
    assert fetched.query_power_state() == ClientPowerState.ON
    fetched.power_off()
    assert fetched.query_power_state() == ClientPowerState.OFF
    assert _ipmitool_power(bmcs[1]) == "Chassis Power is off"


def test_user_data_arrives_decoded(region, client):
    machine = client.machines.allocate(hostname="node5")
    machine.deploy(user_data=b"hello")
    from sqlalchemy import select

    from baremetal.store import schema as t
    with region.store.read() as conn:
        stored = conn.execute(select(t.machines.c.user_data).where(
            t.machines.c.system_id == machine.system_id)).scalar_one()
    assert stored == b"hello"
    machine.release()
