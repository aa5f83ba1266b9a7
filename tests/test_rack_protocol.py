"""The rack <-> region protocol: the shared secret, registration, heartbeats, down racks."""

from __future__ import annotations

import subprocess
from datetime import timedelta

from sqlalchemy import update

from baremetal.store import schema as t
from baremetal.store import utcnow
from baremetal.store.racks import rack_secret

from .live import BAREMETAL

RACK = "/MAAS/rack/v1"


def _secret(api) -> str:  # type: ignore[no-untyped-def]
    with api.store.write() as conn:
        return rack_secret(conn)


def _post(api, path, secret, body):  # type: ignore[no-untyped-def]
    headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
    return api.client.post(RACK + path, json=body, headers=headers)


REGISTRATION = {"name": "rack-1", "hostname": "rack-1.example", "version": "0.1.0",
                "interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:00:01",
                                "addresses": ["10.254.7.1/24"]}],
                "subnets": ["10.254.7.0/24"]}


def test_anything_but_the_secret_is_401(api):
    secret = _secret(api)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {secret}"},
                    {"Authorization": "Bearer "}):
        for path in ("/register", "/heartbeat"):
            response = api.client.post(RACK + path, json=REGISTRATION, headers=headers)
            assert response.status_code == 401, (path, headers)
    # A user's API key is not a rack secret either.
    from .api import oauth_header
    response = api.client.post(RACK + "/register", json=REGISTRATION,
                               headers={"Authorization": oauth_header(api.admin_key)})
    assert response.status_code == 401


def test_register_heartbeat_and_the_listing(api):
    secret = _secret(api)
    registered = _post(api, "/register", secret, REGISTRATION)
    assert registered.status_code == 200, registered.get_data(as_text=True)
    system_id = registered.get_json()["system_id"]
    assert _post(api, "/register", secret, REGISTRATION).get_json()["system_id"] == system_id
    assert _post(api, "/heartbeat", secret, {"system_id": system_id}).status_code == 200
    assert _post(api, "/heartbeat", secret, {"system_id": "nosuch"}).status_code == 404
    [rack] = api.call("GET", "rackcontrollers/", api.user_key).get_json()
    assert rack["system_id"] == system_id and rack["status"] == "up"
    assert rack["interface_set"][0]["addresses"] == ["10.254.7.1/24"]
    assert rack["last_heartbeat"].endswith("Z")
    assert secret not in api.call("GET", "rackcontrollers/", api.user_key).get_data(True)


def test_a_rack_that_misses_heartbeats_is_down(api):
    secret = _secret(api)
    system_id = _post(api, "/register", secret, REGISTRATION).get_json()["system_id"]
    with api.store.write() as conn:
        conn.execute(update(t.rack_controllers).values(
            last_heartbeat=utcnow() - timedelta(seconds=45)))
    [rack] = api.call("GET", "rackcontrollers/", api.admin_key).get_json()
    assert rack["status"] == "down"
    _post(api, "/heartbeat", secret, {"system_id": system_id})
    assert api.call("GET", "rackcontrollers/", api.admin_key).get_json()[0]["status"] == "up"


def test_malformed_bodies_are_400(api):
    secret = _secret(api)
    for body in ({}, {"name": ""}, {"name": "x", "hostname": "y", "interfaces": "eth0"}):
        response = _post(api, "/register", secret, body)
        assert response.status_code == 400 and response.mimetype == "text/plain"
    response = api.client.post(RACK + "/register", data=b"{not json",
                               headers={"Authorization": f"Bearer {secret}",
                                        "Content-Type": "application/json"})
    assert response.status_code == 400


def test_rack_secret_command_prints_the_secret(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    first = subprocess.run([str(BAREMETAL), "rack-secret", "--database-url", url],
                           capture_output=True, text=True, timeout=60)
    second = subprocess.run([str(BAREMETAL), "rack-secret", "--database-url", url],
                            capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and len(first.stdout.strip()) == 64
    assert first.stdout == second.stdout
