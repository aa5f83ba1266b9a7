"""Request formats real clients send, and errors as MAAS gives them."""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from baremetal.store import schema as t


def _multipart_base64(fields: dict[str, str]) -> tuple[bytes, str]:
    """A body as python-libmaas builds it: base64 parts, quoted boundary."""
    boundary = "===============1234567890=="
    parts = []
    for key, value in fields.items():
        parts.append(
            f"--{boundary}\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nMIME-Version: 1.0\r\n"
            f"Content-Transfer-Encoding: base64\r\nContent-Disposition: form-data; "
            f"name=\"{key}\"\r\n\r\n".encode() + base64.b64encode(value.encode()) + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/form-data; boundary="{boundary}"'


def test_multipart_with_base64_parts(api):
    body, content_type = _multipart_base64({"zone": "z1", "agent_name": "libmaas"})
    response = api.call("POST", "machines/?op=allocate", api.admin_key, data=body,
                        content_type=content_type)
    assert response.status_code == 200, response.get_data(as_text=True)
    machine = response.get_json()
    assert machine["zone"]["name"] == "z1" and machine["agent_name"] == "libmaas"


def test_gomaasapi_style_create_with_empty_op(api):
    response = api.call(
        "POST", "machines/?op=", api.admin_key,
        data="hostname=newbox&architecture=amd64%2Fgeneric&mac_addresses=52%3A54%3A00%3Aaa%3A00%3A01"
             "&mac_addresses=52%3A54%3A00%3Aaa%3A00%3A02&power_type=ipmi"
             "&power_parameters_power_address=10.0.0.99&power_parameters_power_pass=pw",
        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.get_data(as_text=True)
    machine = response.get_json()
    assert machine["hostname"] == "newbox" and machine["status_name"] == "New"
    assert [i["mac_address"] for i in machine["interface_set"]] == [
        "52:54:00:aa:00:01", "52:54:00:aa:00:02"]
    assert "pw" not in response.get_data(as_text=True)


def test_op_in_a_form_field(api):
    response = api.call("POST", "machines/", api.admin_key,
                        data={"op": "allocate", "zone": "z1"})
    assert response.status_code == 200 and response.get_json()["zone"]["name"] == "z1"


def test_errors_are_plain_text_and_change_nothing(api):
    with api.store.read() as conn:
        before = conn.execute(select(func.count()).select_from(t.machines)).scalar_one()
    for data, field in [
        ({"mac_addresses": "not-a-mac"}, "mac_addresses"),
        ({"architecture": "sparc"}, "architecture"),
        ({"power_type": "telepathy"}, "power_type"),
        ({"zone": "nowhere"}, "zone"),
        ({"hostname": "bad host"}, "hostname"),
        ({"mac_addresses": "52:54:00:12:34:01"}, "mac_addresses"),  # already in use
    ]:
        response = api.call("POST", "machines/", api.admin_key, data=data)
        assert response.status_code == 400, (data, response.get_data(as_text=True))
        assert response.mimetype == "text/plain"
        assert field in response.get_data(as_text=True)
    with api.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.machines)).scalar_one() == before


def test_allocation_errors(api):
    response = api.call("POST", "machines/?op=allocate", api.admin_key, data={"colour": "x"})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "colour: No such constraint."
    response = api.call("POST", "machines/?op=allocate", api.admin_key, data={"zone": "mars"})
    assert response.status_code == 400 and "No such zone: 'mars'" in response.get_data(True)
    response = api.call("POST", "machines/?op=allocate", api.admin_key, data={"cpu_count": 99})
    assert response.status_code == 409
    assert response.get_data(as_text=True).startswith("No available machine matches constraints")
    assert "Retry-After" not in response.headers


def test_state_conflicts_are_409(api):
    system_id = api.call("GET", "machines/", api.admin_key).get_json()[0]["system_id"]
    response = api.call("POST", f"machines/{system_id}/?op=mark_fixed", api.admin_key)
    assert response.status_code == 409
    assert response.get_data(as_text=True) == (
        "Can't mark fixed a machine that is in the 'Ready' state")
    assert api.call("POST", f"machines/{system_id}/?op=release", api.admin_key).status_code == 200
    response = api.call("GET", "machines/nosuch/", api.admin_key)
    assert response.status_code == 404
    assert response.get_data(as_text=True) == "No Machine matches the given query."


def test_deploy_accepts_every_series_spelling(api):
    for spelling in ("jammy", "ubuntu/jammy", "ubuntu/22.04", "22.04"):
        machine = api.call("POST", "machines/?op=allocate", api.admin_key).get_json()
        response = api.call("POST", f"machines/{machine['system_id']}/?op=deploy",
                            api.admin_key, data={"distro_series": spelling,
                                                 "user_data": base64.b64encode(b"x").decode()})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["distro_series"] == "jammy"
        assert response.get_json()["status_name"] == "Deploying"
        released = api.call("POST", f"machines/{machine['system_id']}/?op=release",
                            api.admin_key).get_json()
        assert released["status_name"] == "Ready" and released["owner"] is None
    response = api.call("POST", f"machines/{machine['system_id']}/?op=deploy", api.admin_key,
                        data={"distro_series": "windows"})
    assert response.status_code == 400


def test_owner_data_and_agent_name_filter(api):
    machine = api.call("POST", "machines/?op=allocate", api.admin_key,
                       data={"agent_name": "model-7"}).get_json()
    sid = machine["system_id"]
    data = api.call("POST", f"machines/{sid}/?op=set_owner_data", api.admin_key,
                    data={"owner": "juju", "unit": "app/0"}).get_json()["owner_data"]
    assert data == {"owner": "juju", "unit": "app/0"}
    data = api.call("POST", f"machines/{sid}/?op=set_owner_data", api.admin_key,
                    data={"unit": ""}).get_json()["owner_data"]
    assert data == {"owner": "juju"}
    listed = api.call("GET", f"machines/?agent_name=model-7&id={sid}", api.admin_key).get_json()
    assert [m["system_id"] for m in listed] == [sid]
    assert api.call("GET", "machines/?agent_name=model-7&id=other",
                    api.admin_key).get_json() == []


def test_devices_and_link_subnet(api):
    parent = api.call("GET", "machines/", api.admin_key).get_json()[0]["system_id"]
    device = api.call("POST", "devices/", api.user_key, data={
        "mac_addresses": "52:54:00:de:ad:01", "hostname": "lxd-0", "parent": parent})
    assert device.status_code == 200, device.get_data(as_text=True)
    device = device.get_json()
    assert device["parent"] == parent
    nic = device["interface_set"][0]
    linked = api.call("POST", f"{nic['resource_uri']}?op=link_subnet", api.user_key,
                      data={"mode": "static", "subnet": "10.10.0.0/24",
                            "ip_address": "10.10.0.200"})
    assert linked.status_code == 200, linked.get_data(as_text=True)
    assert linked.get_json()["links"][0]["ip_address"] == "10.10.0.200"
    again = api.call("POST", f"{nic['resource_uri']}?op=link_subnet", api.user_key,
                     data={"mode": "static", "subnet": "1", "ip_address": "10.10.0.200"})
    assert again.status_code == 400
    assert again.get_data(as_text=True) == "ip_address: 10.10.0.200 is already in use."
    read = api.call("GET", f"devices/{device['system_id']}/", api.user_key).get_json()
    assert read["ip_addresses"] == ["10.10.0.200"]
    # A device's AUTO link gets its address at once (a device is never deployed).
    auto = api.call("POST", f"{nic['resource_uri']}?op=link_subnet", api.user_key,
                    data={"mode": "auto", "subnet": "10.10.0.0/24"}).get_json()
    assert [link["ip_address"] for link in auto["links"]] == ["10.10.0.200", "10.10.0.201"]
    assert api.call("DELETE", f"devices/{device['system_id']}/", api.user_key).status_code == 204
    assert api.call("GET", f"devices/{device['system_id']}/", api.user_key).status_code == 404


def test_events_query(api):
    sid = api.call("POST", "machines/?op=allocate", api.user_key).get_json()["system_id"]
    events = api.call("GET", f"events/?op=query&id={sid}", api.user_key).get_json()
    assert events["count"] >= 1
    assert events["events"][0]["description"] == "From 'Ready' to 'Allocated'"
    assert events["events"][0]["node"] == sid
    assert api.call("GET", "events/?op=query&limit=abc", api.user_key).status_code == 400


def test_listing_costs_constant_queries(api):
    from sqlalchemy import event

    from baremetal.store.machines import NewInterface, NewMachine

    from .conftest import add_ready

    def count_queries() -> int:
        statements: list[str] = []

        def record(*args):  # type: ignore[no-untyped-def]
            statements.append(args[2])

        event.listen(api.store.engine, "before_cursor_execute", record)
        try:
            assert api.call("GET", "machines/", api.admin_key).status_code == 200
        finally:
            event.remove(api.store.engine, "before_cursor_execute", record)
        return len(statements)

    few = count_queries()
    add_ready(api.store, [NewMachine(interfaces=[NewInterface(name="eth0")])
                          for _ in range(40)])
    assert count_queries() == few <= 12


def test_api_reference_page_lists_every_resource(api):
    page = api.client.get("/MAAS/api/2.0/").get_data(as_text=True)
    from baremetal.region.registry import registry
    for resource in registry.resources:
        assert resource.path in page


def test_describe_is_generated_from_the_registry(api):
    described = api.call("GET", "describe/").get_json()
    names = {r["name"] for r in described["resources"]}
    assert {"MachinesHandler", "MachineHandler", "VersionHandler", "FilesHandler"} <= names
    for resource in described["resources"]:
        assert "anon" in resource and "auth" in resource
        handler = resource["anon"] or resource["auth"]
        assert handler["uri"].startswith("http://localhost/MAAS/api/2.0/")
        for action in handler["actions"]:
            assert action["restful"] == (action["op"] is None)
            assert action["restful"] or action["name"] == action["op"]


def test_the_anonymous_file_link_serves_the_file(api):
    import io

    api.call("POST", "files/?op=add", api.user_key, data={
        "filename": "juju-state", "file": (io.BytesIO(b"state: 2\n"), "juju-state")})
    listed = api.call("GET", "files/", api.user_key).get_json()
    link = listed[0]["anon_resource_uri"]
    anonymous = api.call("GET", link)  # no credentials: the key is the secret
    assert anonymous.status_code == 200 and anonymous.data == b"state: 2\n"
    assert api.call("GET", link.replace("key=", "key=0")).status_code == 404
    assert api.call("GET", "files/?op=get_by_key").status_code == 400


def test_an_event_level_is_a_minimum(api):
    from baremetal.store.catalog import record_event

    with api.store.write() as conn:
        record_event(conn, None, "Debug thing", "d", None, level="DEBUG")
        record_event(conn, None, "Warning thing", "w", None, level="WARNING")

    def levels(level: str) -> set[str]:
        found = api.call("GET", f"events/?op=query&level={level}&limit=1000",
                         api.admin_key).get_json()
        return {e["level"] for e in found["events"]}

    assert levels("DEBUG") >= {"DEBUG", "INFO", "WARNING"}
    assert "DEBUG" not in levels("INFO") and "INFO" in levels("INFO")
    assert levels("WARNING") == {"WARNING"}
