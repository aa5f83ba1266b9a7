"""The interfaces API: every operation through python-libmaas (as Juju's tools and Watcher
use it) against a live region, the shapes it parses; and bad input refused with a 400 that
changes nothing, the state rule's 409, through plain requests."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert, select, update

from baremetal.models import NodeStatus
from baremetal.store import schema as t
from baremetal.store.machines import NewInterface, NewMachine
from baremetal.store.references import create_subnet, create_vlan, network_index

from .conftest import add_ready
from .live import start_region, stop_region

MACS = ["52:54:00:aa:00:01", "52:54:00:aa:00:02", "52:54:00:aa:00:03"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A live region with a Ready machine of three NICs on the default fabric, a tagged
    VLAN 42 on that fabric and a VLAN on another fabric, each with a subnet."""
    directory = tmp_path_factory.mktemp("interfaces")
    region = start_region(directory, command="region")
    with region.store.write() as conn:
        vlans, _ = network_index(conn)
        untagged = min(vlans)
        plain = create_subnet(conn, "10.40.0.0/24", untagged, gateway_ip="10.40.0.1")
        tagged = create_vlan(conn, "fabric-0", 42)
        on_tagged = create_subnet(conn, "10.42.0.0/24", tagged, gateway_ip="10.42.0.1")
        elsewhere = create_vlan(conn, "fabric-other", 7)
    [system_id] = add_ready(region.store, [NewMachine(hostname="net1", interfaces=[
        NewInterface(name=f"eth{n}", mac_address=mac, vlan_id=untagged)
        for n, mac in enumerate(MACS)])])
    [other] = add_ready(region.store, [NewMachine(hostname="net2", interfaces=[
        NewInterface(name="eth0", mac_address="52:54:00:bb:00:01", vlan_id=untagged)])])
    asyncio.set_event_loop(asyncio.new_event_loop())
    from maas.client import connect

    client = connect(region.url, apikey=region.admin_key)
    try:
        yield region, client, system_id, other, tagged, elsewhere, (plain, on_tagged)
    finally:
        stop_region(region)


def test_bonds_vlans_bridges_and_links_through_python_libmaas(lab):
    from maas.client.enum import InterfaceType, LinkMode

    region, client, system_id, _, tagged, _, (plain, on_tagged) = lab
    machine = client.machines.get(system_id)
    eth = {nic.name: nic for nic in machine.interfaces}
    bond = machine.interfaces.create(
        InterfaceType.BOND, name="bond0", parents=[eth["eth0"], eth["eth1"]],
        bond_mode="802.3ad", bond_lacp_rate="fast", bond_xmit_hash_policy="layer3+4")
    assert bond.type == InterfaceType.BOND
    assert sorted(p.name for p in bond.parents) == ["eth0", "eth1"]
    assert bond.params["bond_mode"] == "802.3ad"
    assert bond.params["bond_lacp_rate"] == "fast"
    vlan = machine.interfaces.create(InterfaceType.VLAN, parent=bond, vlan=tagged)
    assert vlan.name == "bond0.42" and vlan.vlan.vid == 42
    bridge = machine.interfaces.create(InterfaceType.BRIDGE, name="br0", parent=vlan,
                                       bridge_stp=True)
    assert bridge.type == InterfaceType.BRIDGE and bridge.params["bridge_stp"] is True
    link = bridge.links.create(LinkMode.STATIC, subnet=on_tagged, default_gateway=True)
    assert link.ip_address == "10.42.0.2" and link.mode == LinkMode.STATIC
    auto = eth["eth2"].links.create(LinkMode.AUTO, subnet=plain)
    assert auto.mode == LinkMode.AUTO and auto.ip_address is None
    machine.refresh()
    read = {nic.name: nic for nic in machine.interfaces}
    assert set(read) == {"eth0", "eth1", "eth2", "bond0", "bond0.42", "br0"}
    assert [c.name for c in read["bond0"].children] == ["bond0.42"]
    assert machine.ip_addresses == ["10.42.0.2"]
    # PUT: name and tags through save(); the MTU (not a libmaas field) with a plain PUT.
    nic = read["eth2"]
    nic.name = "storage0"
    nic.tags = ["storage"]
    nic.save()
    import requests

    from .api import oauth_header

    put = requests.put(region.api + f"nodes/{system_id}/interfaces/{nic.id}/",
                       data={"mtu": "9000"}, timeout=30,
                       headers={"Authorization": oauth_header(region.admin_key)})
    assert put.status_code == 200, put.text
    again = client.machines.get(system_id)
    renamed = {n.name: n for n in again.interfaces}["storage0"]
    assert renamed.effective_mtu == 9000 and renamed.tags == ["storage"]
    # Unlink (the address goes back), disconnect, delete in dependency order.
    [static] = list({n.name: n for n in again.interfaces}["br0"].links)
    static.delete()
    held = requests.get(region.api + f"subnets/{on_tagged}/", params={"op": "ip_addresses"},
                        headers={"Authorization": oauth_header(region.admin_key)}, timeout=30)
    assert held.json() == []  # the unlinked address is free again
    {n.name: n for n in client.machines.get(system_id).interfaces}["storage0"].disconnect()
    for name in ("br0", "bond0.42", "bond0"):
        {n.name: n for n in client.machines.get(system_id).interfaces}[name].delete()
    final = client.machines.get(system_id)
    assert sorted(n.name for n in final.interfaces) == ["eth0", "eth1", "storage0"]
    assert all(not n.links for n in final.interfaces)
    assert final.ip_addresses == []


def _post(region, path: str, data: dict):  # type: ignore[no-untyped-def]
    import requests

    from .api import oauth_header

    return requests.post(region.api + path, data=data, timeout=30,
                         headers={"Authorization": oauth_header(region.admin_key)})


def test_bad_interface_input_is_refused_and_changes_nothing(lab):
    import requests

    from .api import oauth_header

    region, _, system_id, other, _, elsewhere, _ = lab
    headers = {"Authorization": oauth_header(region.admin_key)}
    nics = requests.get(region.api + f"nodes/{system_id}/interfaces/", headers=headers,
                        timeout=30).json()
    ids = {nic["name"]: nic["id"] for nic in nics}
    other_nic = requests.get(region.api + f"nodes/{other}/interfaces/", headers=headers,
                             timeout=30).json()[0]["id"]
    base = f"nodes/{system_id}/interfaces/"
    one = f"{base}{ids['eth0']}/"
    cases = [
        (f"{base}?op=create_bond", {"name": "bond9", "parents": [ids["eth0"], other_nic]},
         f"parents: interface {other_nic} (eth0) belongs to another node."),
        (f"{base}?op=create_bond", {"name": "bond9", "parents": [ids["eth0"], ids["eth1"]],
                                    "bond_mode": "fastest"}, "bond_mode: 'fastest' is not"),
        (f"{base}?op=create_vlan", {"parent": ids["eth0"], "vlan": elsewhere},
         "vlan: VLAN 7 is on another fabric than eth0's."),
        (f"{one}?op=link_subnet", {"mode": "static", "subnet": "10.40.0.0/24",
                                   "ip_address": "10.99.0.5"},
         "ip_address: 10.99.0.5 is not in subnet 10.40.0.0/24."),
        (f"{one}?op=link_subnet", {"mode": "static", "subnet": "nope"}, "subnet: no subnet"),
        (f"{one}?op=link_subnet", {"mode": "sticky-ish", "subnet": "10.40.0.0/24"},
         "mode: 'sticky-ish' is not one of AUTO, DHCP, STATIC, LINK_UP."),
    ]
    for path, data, message in cases:
        response = _post(region, path, data)
        assert response.status_code == 400, (path, response.text)
        assert response.text.startswith(message), response.text
    after = requests.get(region.api + base, headers=headers, timeout=30).json()
    assert after == nics  # nothing changed
    # A machine that is not Ready, Allocated or Broken: MAAS's 409.
    with region.store.write() as conn:  # (straight to the state, not through the table)
        conn.execute(update(t.machines).where(t.machines.c.system_id == system_id)
                     .values(status=int(NodeStatus.DEPLOYED)))
    try:
        response = _post(region, f"{one}?op=link_subnet",
                         {"mode": "dhcp", "subnet": "10.40.0.0/24"})
        assert response.status_code == 409
        assert response.text == ("Cannot link interface because the machine is not Ready, "
                                 "Allocated, or Broken.")
        put = requests.put(region.api + one, data={"mtu": "9000"}, headers=headers, timeout=30)
        assert put.status_code == 409 and "Cannot update interface" in put.text
    finally:
        with region.store.write() as conn:
            conn.execute(update(t.machines).where(t.machines.c.system_id == system_id)
                         .values(status=int(NodeStatus.READY)))


def test_the_interfaces_command(lab, tmp_path):
    import json
    import os
    import subprocess

    from .live import BAREMETAL

    region, _, _, other, tagged, _, (plain, _) = lab
    env = {**os.environ, "BAREMETAL_CONFIG_DIR": str(tmp_path)}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BAREMETAL), *args], capture_output=True, text=True,
                              timeout=60, env=env)
        assert (done.returncode == 0) == ok, done.stderr
        return done

    run("login", "lab", region.url, region.admin_key)
    with region.store.write() as conn:  # a second NIC to bond with
        machine_id = conn.execute(select(t.machines.c.id).where(
            t.machines.c.system_id == other)).scalar()
        conn.execute(insert(t.interfaces).values(
            machine_id=machine_id, name="eth1", type="physical",
            mac_address="52:54:00:bb:00:02", enabled=True, mtu=1500, link_speed=0,
            parents=[], tags=[]))
    bonded = run("interfaces", "bond", other, "bond0", "--parents", "eth0,eth1",
                 "--mode", "802.3ad", "--lacp-rate", "fast")
    assert "bond0" in bonded.stdout and "bond" in bonded.stdout
    run("interfaces", "vlan", other, "bond0", "--vlan", str(tagged))
    linked = run("interfaces", "link", other, "bond0", "--mode", "static", "--subnet",
                 str(plain), "--default-gateway", "--format", "json")
    [link] = json.loads(linked.stdout)["links"]
    assert link["mode"] == "static" and link["ip_address"].startswith("10.40.0.")
    listing = run("interfaces", "list", other).stdout
    rows = {line.split()[1]: line for line in listing.splitlines()[1:]}
    assert set(rows) == {"eth0", "eth1", "bond0", "bond0.42"}
    assert f"static:{link['ip_address']}@10.40.0.0/24" in rows["bond0"]
    run("interfaces", "unlink", other, "bond0", str(link["id"]))
    refused = run("interfaces", "delete", other, "bond0", ok=False)
    assert "bond0 is the parent of bond0.42: delete that first." in refused.stderr
    run("interfaces", "delete", other, "bond0.42")
    run("interfaces", "delete", other, "bond0")
    missing = run("interfaces", "link", other, "eth9", "--mode", "dhcp", ok=False)
    assert "no interface 'eth9' on this node (it has eth0, eth1)" in missing.stderr
