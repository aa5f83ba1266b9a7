"""Address management: the pure rules (what may be handed out, which address is next), the
store's claims on both databases (static checks, automatic picks, holes, a full subnet),
a race of 4 processes x 8 threads on one small subnet, and deploy/release through the API
(AUTO links get addresses, a full subnet is a 409 that changes nothing)."""

from __future__ import annotations

import json
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from sqlalchemy import select

from baremetal.network.ipam import AddressError, SubnetPlan, check_static, lowest_hole, next_above
from baremetal.store import Store
from baremetal.store import schema as t
from baremetal.store.boot import create_ip_range, machine_token
from baremetal.store.devices import create_device
from baremetal.store.ipam import SubnetFull, claim_address
from baremetal.store.references import create_subnet, create_vlan, network_index

from .live import start_region, stop_region

PLAN = SubnetPlan("10.0.0.0/24", gateway="10.0.0.1", dns_servers=("10.0.0.2",),
                  ranges=(("dynamic", "10.0.0.100", "10.0.0.150"),
                          ("reserved", "10.0.0.151", "10.0.0.160")))


def _int(ip: str) -> int:
    import ipaddress

    return int(ipaddress.ip_address(ip))


def test_the_next_address_skips_gateway_dns_and_ranges():
    assert next_above(PLAN, None) == _int("10.0.0.3")
    assert next_above(PLAN, _int("10.0.0.99")) == _int("10.0.0.161")
    assert next_above(PLAN, _int("10.0.0.253")) == _int("10.0.0.254")
    assert next_above(PLAN, _int("10.0.0.254")) is None  # the top is used up
    taken = [_int(f"10.0.0.{n}") for n in (3, 4, 6, 161)]
    assert lowest_hole(PLAN, taken) == _int("10.0.0.5")
    everything = [_int(f"10.0.0.{n}") for n in [*range(3, 100), *range(161, 255)]]
    assert lowest_hole(PLAN, everything) is None


def test_rack_controllers_addresses_are_never_handed_out():
    plan = SubnetPlan("10.0.9.0/24", controllers=("10.0.9.1", "10.0.9.3"))
    assert next_above(plan, None) == _int("10.0.9.2")
    assert next_above(plan, _int("10.0.9.2")) == _int("10.0.9.4")
    with pytest.raises(AddressError, match="is a rack controller's address"):
        check_static(plan, "10.0.9.3")


@pytest.mark.parametrize(("ip", "message"), [
    ("10.0.1.5", "ip_address: 10.0.1.5 is not in subnet 10.0.0.0/24."),
    ("10.0.0.120", "ip_address: 10.0.0.120 is inside the dynamic range "
                   "10.0.0.100-10.0.0.150 of 10.0.0.0/24."),
    ("10.0.0.155", "ip_address: 10.0.0.155 is inside the reserved range "),
    ("10.0.0.1", "ip_address: 10.0.0.1 is the gateway of 10.0.0.0/24."),
    ("10.0.0.255", "ip_address: 10.0.0.255 is the network or broadcast address"),
    ("not-an-ip", "ip_address: 'not-an-ip' is not an IP address."),
])
def test_static_addresses_are_checked(ip, message):
    with pytest.raises(AddressError) as refused:
        check_static(PLAN, ip)
    assert str(refused.value).startswith(message)
    assert check_static(PLAN, "10.0.0.50") == _int("10.0.0.50")


def _small_subnet(store: Store, cidr: str = "192.168.5.0/28") -> int:
    with store.write() as conn:
        vlan = create_vlan(conn, f"fabric-{cidr}", 0)
        subnet_id = create_subnet(conn, cidr, vlan, gateway_ip=cidr.rsplit(".", 1)[0] + ".1")
        base = cidr.rsplit(".", 1)[0]
        create_ip_range(conn, subnet_id, "dynamic", f"{base}.10", f"{base}.12")
    return subnet_id


def test_claims_on_the_store(store):
    subnet = _small_subnet(store)  # usable: .2-.9 and .13-.14 (.1 gateway, .10-.12 DHCP)
    with store.write() as conn:
        assert claim_address(conn, subnet, ip="192.168.5.5") == "192.168.5.5"
        with pytest.raises(AddressError, match="already in use"):
            claim_address(conn, subnet, ip="192.168.5.5")
        picked = [claim_address(conn, subnet) for _ in range(4)]
    assert picked == ["192.168.5.6", "192.168.5.7", "192.168.5.8", "192.168.5.9"]
    with store.write() as conn:
        assert [claim_address(conn, subnet) for _ in range(2)] == [
            "192.168.5.13", "192.168.5.14"]
        # The top is used up: the holes below, lowest first.
        assert [claim_address(conn, subnet) for _ in range(3)] == [
            "192.168.5.2", "192.168.5.3", "192.168.5.4"]
        with pytest.raises(SubnetFull, match="Subnet 192.168.5.0/28 has no free address"):
            claim_address(conn, subnet)
        claim = conn.execute(select(t.ip_claims.c.id).where(
            t.ip_claims.c.ip == "192.168.5.7")).scalar()
        conn.execute(t.ip_claims.delete().where(t.ip_claims.c.id == claim))
        assert claim_address(conn, subnet) == "192.168.5.7"  # a released address returns


THREADS, PROCESSES = 8, 4


def _claim_until_full(url: str, subnet_id: int) -> tuple[list[str], int]:
    store = Store(url, pool_size=THREADS, max_overflow=0)
    start = threading.Barrier(THREADS)

    def worker(_: int) -> tuple[list[str], int]:
        got: list[str] = []
        start.wait()
        while True:
            try:
                with store.write() as conn:
                    got.append(claim_address(conn, subnet_id))
            except SubnetFull:
                return got, 1

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    store.dispose()
    return [ip for got, _ in results for ip in got], sum(n for _, n in results)


def test_32_claimants_never_get_the_same_address(store):
    subnet = _small_subnet(store, "172.30.7.0/26")  # 61 usable less gateway and 3 DHCP: 58
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as processes:
        futures = [processes.submit(_claim_until_full, store.url, subnet)
                   for _ in range(PROCESSES)]
        results = [f.result(timeout=300) for f in futures]
    given = [ip for ips, _ in results for ip in ips]
    assert len(given) == len(set(given)) == 58
    assert sum(n for _, n in results) == PROCESSES * THREADS  # each ended on "full"
    with store.read() as conn:
        assert conn.execute(select(t.ip_claims.c.ip).where(
            t.ip_claims.c.subnet_id == subnet)).scalars().all().__len__() == 58


def _link(api, system_id: str, mode: str, subnet: str, ip: str | None = None):  # type: ignore[no-untyped-def]
    machine = api.call("GET", f"machines/{system_id}/", api.admin_key).get_json()
    nic = machine["interface_set"][0]
    data = {"mode": mode, "subnet": subnet, **({"ip_address": ip} if ip else {})}
    return api.call("POST", f"{nic['resource_uri']}?op=link_subnet", api.admin_key, data=data)


def test_deploy_gives_auto_links_addresses_and_release_takes_them_back(api):
    machines = [m["system_id"] for m in api.call("GET", "machines/", api.admin_key).get_json()]
    first = machines[0]
    assert _link(api, first, "auto", "10.10.0.0/24").status_code == 200
    # STATIC without an address gets the next free one, as in MAAS.
    static = _link(api, machines[1], "static", "10.10.0.0/24").get_json()
    assert static["links"][-1]["ip_address"] == "10.10.0.14"  # .10-.13 were taken
    refused = _link(api, machines[1], "static", "10.10.0.0/24", "10.10.0.12")
    assert refused.status_code == 400
    assert refused.get_data(as_text=True) == "ip_address: 10.10.0.12 is already in use."
    api.call("POST", "machines/?op=allocate", api.admin_key, data={"system_id": first})
    deployed = api.call("POST", f"machines/{first}/?op=deploy", api.admin_key).get_json()
    assert sorted(deployed["ip_addresses"]) == ["10.10.0.10", "10.10.0.15"]
    auto = [link for link in deployed["interface_set"][0]["links"] if link["mode"] == "auto"]
    assert auto[0]["ip_address"] == "10.10.0.15"
    assert auto[0]["subnet"]["cidr"] == "10.10.0.0/24"
    # The network config the deployed OS gets has the addresses Juju will read.
    with api.store.write() as conn:
        machine_id = conn.execute(select(t.machines.c.id).where(
            t.machines.c.system_id == first)).scalar()
        token = machine_token(conn, machine_id)
    served = api.client.get("/MAAS/metadata/latest/network-config",
                            headers={"Authorization": f"Bearer {token}"})
    eth0 = json.loads(served.data)["network"]["ethernets"]["eth0"]
    assert eth0["addresses"] == ["10.10.0.10/24", "10.10.0.15/24"]
    assert eth0["routes"] == [{"to": "0.0.0.0/0", "via": "10.10.0.1"}]
    released = api.call("POST", f"machines/{first}/?op=release", api.admin_key).get_json()
    assert released["ip_addresses"] == ["10.10.0.10"]  # the STATIC one stays
    again = _link(api, machines[2], "static", "10.10.0.0/24").get_json()
    assert again["links"][-1]["ip_address"] == "10.10.0.15"  # handed back out


def test_a_full_subnet_fails_the_deploy_and_changes_nothing(api):
    created = api.call("POST", "subnets/", api.admin_key, data={"cidr": "10.99.0.0/30"})
    assert created.status_code == 200, created.get_data(as_text=True)
    machines = [m["system_id"] for m in api.call("GET", "machines/", api.admin_key).get_json()]
    for system_id in machines[:3]:
        assert _link(api, system_id, "auto", "10.99.0.0/30").status_code == 200
        api.call("POST", "machines/?op=allocate", api.admin_key, data={"system_id": system_id})
    for system_id in machines[:2]:  # two usable addresses: .1 and .2
        assert api.call("POST", f"machines/{system_id}/?op=deploy", api.admin_key
                        ).status_code == 200
    refused = api.call("POST", f"machines/{machines[2]}/?op=deploy", api.admin_key)
    assert refused.status_code == 409
    assert refused.get_data(as_text=True) == (
        "Can't deploy: Subnet 10.99.0.0/30 has no free address left.")
    machine = api.call("GET", f"machines/{machines[2]}/", api.admin_key).get_json()
    assert machine["status_name"] == "Allocated"
    assert machine["ip_addresses"] == [f"10.10.0.{10 + 2}"]  # its STATIC link only


def test_subnet_address_reports_and_reservations(api):
    created = api.call("POST", "subnets/", api.admin_key,
                       data={"cidr": "10.77.0.0/28", "gateway_ip": "10.77.0.1"}).get_json()
    sid = created["id"]
    api.call("POST", "ipranges/", api.admin_key, data={
        "type": "dynamic", "start_ip": "10.77.0.10", "end_ip": "10.77.0.12", "subnet": sid})
    get = lambda op: api.call("GET", f"subnets/{sid}/?op={op}", api.admin_key)  # noqa: E731
    stats = get("statistics").get_json()
    # 14 usable; the gateway and 3 DHCP addresses are not available
    assert (stats["total_addresses"], stats["num_available"]) == (14, 10)
    assert stats["largest_available"] == 8 and stats["usage_string"] == "29%"
    # A user reserves the next free address, and one by hand with a MAC.
    mine = api.call("POST", "ipaddresses/?op=reserve", api.user_key,
                    data={"subnet": "10.77.0.0/28"}).get_json()
    assert mine["ip"] == "10.77.0.2" and mine["alloc_type_name"] == "User reserved"
    by_hand = api.call("POST", "ipaddresses/?op=reserve", api.user_key,
                       data={"ip": "10.77.0.5", "mac": "52:54:00:77:00:05"})
    assert by_hand.status_code == 200, by_hand.get_data(as_text=True)
    taken = api.call("POST", "ipaddresses/?op=reserve", api.user_key, data={"ip": "10.77.0.5"})
    assert taken.status_code == 400 and "already" in taken.get_data(as_text=True)
    assert api.call("POST", "ipaddresses/?op=reserve", api.user_key,
                    data={"ip": "10.200.0.5"}).status_code == 400
    assert [a["ip"] for a in get("ip_addresses").get_json()] == ["10.77.0.2", "10.77.0.5"]
    assert get("unreserved_ip_ranges").get_json() == [
        {"start": "10.77.0.3", "end": "10.77.0.4", "num_addresses": 2},
        {"start": "10.77.0.6", "end": "10.77.0.9", "num_addresses": 4},
        {"start": "10.77.0.13", "end": "10.77.0.14", "num_addresses": 2}]
    assert [a["ip"] for a in api.call("GET", "ipaddresses/", api.user_key).get_json()] == [
        "10.77.0.2", "10.77.0.5"]
    assert api.call("GET", "ipaddresses/", api.other_key).get_json() == []
    assert api.call("POST", "ipaddresses/?op=release", api.other_key,
                    data={"ip": "10.77.0.2"}).status_code == 403
    assert api.call("POST", "ipaddresses/?op=release", api.user_key,
                    data={"ip": "10.77.0.2"}).status_code == 204
    # Released: available again (the one reserved with a MAC stays).
    assert get("statistics").get_json()["num_available"] == 9


def _link_devices(api_url: str, key: str, nics: list[str], subnet: str) -> list[tuple]:
    """One process: 8 threads link STATIC (no address: the next free one) over HTTP."""
    import requests

    from .api import oauth_header

    session = requests.Session()
    session.headers["Authorization"] = oauth_header(key)

    def link(uri: str) -> tuple:
        response = session.post(api_url.rstrip("/") + uri.removeprefix("/MAAS/api/2.0"),
                                params={"op": "link_subnet"},
                                data={"mode": "static", "subnet": subnet}, timeout=120)
        if response.status_code == 200:
            return ("ok", response.json()["links"][-1]["ip_address"])
        return (response.status_code, response.text)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(link, nics))


def test_32_clients_of_two_region_processes_never_share_an_address(tmp_path, postgres_server):
    """Over HTTP, on PostgreSQL, against a region with two worker processes: 4 processes x
    8 threads link 48 devices STATIC on a /27 with 28 free addresses."""
    url = postgres_server.create()
    region = start_region(tmp_path, database_url=url, command="region", workers=2)
    try:
        with region.store.write() as conn:
            vlans, _ = network_index(conn)
            subnet = create_subnet(conn, "10.66.0.0/27", min(vlans), gateway_ip="10.66.0.1")
            create_ip_range(conn, subnet, "reserved", "10.66.0.29", "10.66.0.30")
            admin = conn.execute(select(t.users.c.id).where(
                t.users.c.username == "admin")).scalar()
            systems = [create_device(conn, hostname=f"c{n}", parent_id=None,
                                     mac_addresses=[f"52:54:00:66:00:{n:02x}"],
                                     owner_id=admin, username="admin") for n in range(48)]
        import requests

        from .api import oauth_header

        headers = {"Authorization": oauth_header(region.admin_key)}
        nics = [requests.get(region.api + f"devices/{s}/", headers=headers, timeout=30)
                .json()["interface_set"][0]["resource_uri"] for s in systems]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(PROCESSES, mp_context=context) as processes:
            futures = [processes.submit(_link_devices, region.api, region.admin_key,
                                        nics[n::PROCESSES], "10.66.0.0/27")
                       for n in range(PROCESSES)]
            outcomes = [o for f in futures for o in f.result(timeout=300)]
        given = [ip for kind, ip in outcomes if kind == "ok"]
        refused = [(kind, text) for kind, text in outcomes if kind != "ok"]
        assert len(given) == len(set(given)) == 27  # .2-.28: the gateway and .29-.30 kept
        assert len(refused) == 48 - 27
        assert all(kind == 409 and "no free address" in text for kind, text in refused), \
            refused
    finally:
        stop_region(region)
        postgres_server.drop(url)


def test_static_routes_reach_the_deployed_machines_network_config(api):
    post = lambda path, **data: api.call("POST", path, api.admin_key, data=data)  # noqa: E731
    post("subnets/", cidr="192.168.50.0/24")
    route = post("static-routes/", source="10.10.0.0/24", destination="192.168.50.0/24",
                 gateway_ip="10.10.0.254", metric="50")
    assert route.status_code == 200, route.get_data(as_text=True)
    created = route.get_json()
    assert (created["source"]["cidr"], created["destination"]["cidr"],
            created["gateway_ip"], created["metric"]) == (
        "10.10.0.0/24", "192.168.50.0/24", "10.10.0.254", 50)
    for data, message in (
            ({"source": "10.10.0.0/24", "destination": "192.168.50.0/24",
              "gateway_ip": "192.168.50.1"},
             "gateway_ip: 192.168.50.1 is not in the source subnet 10.10.0.0/24."),
            ({"source": "10.10.0.0/24", "destination": "nowhere", "gateway_ip": "10.10.0.9"},
             "destination: no subnet 'nowhere'."),
            ({"source": "10.10.0.0/24", "destination": "192.168.50.0/24",
              "gateway_ip": "10.10.0.254"}, "A route from 10.10.0.0/24 to 192.168.50.0/24")):
        refused = post("static-routes/", **data)
        assert refused.status_code == 400 and refused.get_data(as_text=True).startswith(
            message), refused.get_data(as_text=True)
    assert len(api.call("GET", "static-routes/", api.user_key).get_json()) == 1
    backup = post("static-routes/", source="10.10.0.0/24", destination="192.168.50.0/24",
                  gateway_ip="10.10.0.253", metric="200")  # another way there
    assert backup.status_code == 200
    assert len(api.call("GET", "static-routes/", api.user_key).get_json()) == 2
    uri = f"static-routes/{created['id']}/"
    assert api.call("PUT", uri, api.admin_key, data={"metric": "5"}).get_json()["metric"] == 5
    # The route is in the network config of a machine on the source subnet.
    machine = api.call("GET", "machines/", api.admin_key).get_json()[0]
    with api.store.write() as conn:
        machine_id = conn.execute(select(t.machines.c.id).where(
            t.machines.c.system_id == machine["system_id"])).scalar()
        token = machine_token(conn, machine_id)
    served = api.client.get("/MAAS/metadata/latest/network-config",
                            headers={"Authorization": f"Bearer {token}"})
    eth0 = json.loads(served.data)["network"]["ethernets"]["eth0"]
    assert {"to": "192.168.50.0/24", "via": "10.10.0.254", "metric": 5} in eth0["routes"]
    assert api.call("DELETE", uri, api.admin_key).status_code == 204
    assert api.call("GET", uri, api.admin_key).status_code == 404
    assert api.call("POST", "static-routes/", api.user_key, data={}).status_code == 403
