"""The metadata API's own rules, in-process: who may call it, bad reports get a clear 400
or 409 and change nothing, heartbeats push the deadline out and say where the machine is,
user data and SSH keys go to the machine that is deploying them."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select

from baremetal.models import NodeStatus
from baremetal.store import schema as t
from baremetal.store.boot import machine_token
from baremetal.store.engine import utcnow
from baremetal.store.machines import set_status, update_machine
from baremetal.store.scripts import add_ssh_key, start_script_set


def _machine(api, status: NodeStatus | None = None):  # type: ignore[no-untyped-def]
    with api.store.write() as conn:
        row = conn.execute(select(t.machines).order_by(t.machines.c.id).limit(1)).first()
        if status is not None:
            set_status(conn, row.system_id, status)
            if status is NodeStatus.COMMISSIONING:
                start_script_set(conn, row.id, "commissioning", ["00-cpu"])
        return row, machine_token(conn, row.id)


def _call(api, method: str, path: str, token: str | None, **kwargs):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api.client.open(f"/MAAS/metadata/latest/{path}", method=method, headers=headers,
                           **kwargs)


def test_only_a_machine_token_is_accepted(api):
    _, token = _machine(api)
    for bad in (None, "nope"):
        assert _call(api, "GET", "script", bad).status_code == 401
    assert _call(api, "GET", "script", token).status_code == 200
    api_key = api.admin_key.split(":")[2]
    assert _call(api, "GET", "script", api_key).status_code == 401  # a user's key is not one


def test_a_heartbeat_pushes_the_deadline_and_says_where(api):
    row, token = _machine(api, NodeStatus.COMMISSIONING)
    with api.store.write() as conn:
        update_machine(conn, row.id, status_deadline=utcnow() + timedelta(seconds=5))
    done = _call(api, "POST", "heartbeat", token, data={"message": "running 02-block-devices"})
    assert done.status_code == 200
    with api.store.read() as conn:
        after = conn.execute(select(t.machines).where(t.machines.c.id == row.id)).first()
    assert after.status_message == "Commissioning: running 02-block-devices"
    assert after.status_deadline > utcnow() + timedelta(minutes=19)


def test_bad_reports_are_refused_and_change_nothing(api):
    row, token = _machine(api)  # Ready: nothing in progress
    refused = _call(api, "POST", "signal", token, data={"status": "BOGUS"})
    assert refused.status_code == 400 and "WORKING, OK, FAILED, TESTING" in refused.text
    idle = _call(api, "POST", "signal", token, data={"status": "OK"})
    assert idle.status_code == 409 and "nothing is in progress" in idle.text
    _, token = _machine(api, NodeStatus.COMMISSIONING)
    bad_number = _call(api, "POST", "signal", token, data={
        "status": "WORKING", "exit_status.00-cpu": "zero", "00-cpu": (io.BytesIO(b"x"), "00-cpu")},
        content_type="multipart/form-data")
    assert bad_number.status_code == 400 and "not a number" in bad_number.text
    with api.store.read() as conn:
        assert NodeStatus(conn.execute(select(t.machines.c.status).where(
            t.machines.c.id == row.id)).scalar()) is NodeStatus.COMMISSIONING


def test_user_data_and_ssh_keys_go_to_the_deploying_machine(api):
    row, token = _machine(api)
    with api.store.write() as conn:
        admin_id = conn.execute(select(t.users.c.id).where(
            t.users.c.username == "admin")).scalar()
        add_ssh_key(conn, admin_id, "ssh-ed25519 AAAAkey admin@lab")
        update_machine(conn, row.id, owner_id=admin_id, user_data=b"#!/bin/sh\necho hi\n")
    assert _call(api, "GET", "user-data", token).data == b"#!/bin/sh\necho hi\n"
    assert _call(api, "GET", "ssh-keys", token).text == "ssh-ed25519 AAAAkey admin@lab\n"
    other = api.client.get("/MAAS/metadata/latest/ssh-keys")
    assert other.status_code == 401


def test_a_new_owner_means_a_new_token(api):
    row, token = _machine(api)
    assert _call(api, "GET", "script", token).status_code == 200
    api.call("POST", "machines/?op=allocate", api.admin_key, data={"system_id": row.system_id})
    assert _call(api, "GET", "script", token).status_code == 401  # the old owner's token
    with api.store.write() as conn:
        fresh = machine_token(conn, row.id)
    assert fresh != token and _call(api, "GET", "script", fresh).status_code == 200
    api.call("POST", f"machines/{row.system_id}/?op=release", api.admin_key)
    assert _call(api, "GET", "script", fresh).status_code == 401


def test_netboot_off_until_release(api):
    from baremetal.store.machines import set_status

    row, token = _machine(api)
    api.call("POST", "machines/?op=allocate", api.admin_key, data={"system_id": row.system_id})
    api.call("POST", f"machines/{row.system_id}/?op=deploy", api.admin_key)
    with api.store.write() as conn:
        token = machine_token(conn, row.id)
        set_status(conn, row.system_id, NodeStatus.DEPLOYED)
    done = api.client.post("/MAAS/metadata/2012-03-01/?op=netboot_off",
                           headers={"Authorization": f"Bearer {token}"})
    assert done.status_code == 200
    machine = api.call("GET", f"machines/{row.system_id}/", api.admin_key).get_json()
    assert machine["netboot"] is False
    assert api.client.post("/MAAS/metadata/2012-03-01/?op=netboot_off").status_code == 401
    api.call("POST", f"machines/{row.system_id}/?op=release", api.admin_key)
    machine = api.call("GET", f"machines/{row.system_id}/", api.admin_key).get_json()
    assert machine["netboot"] is True and machine["status_name"] == "Ready"


def test_deployed_when_cloud_init_finishes_failed_when_a_stage_fails(api):
    from urllib.parse import quote

    def deploying():  # type: ignore[no-untyped-def]
        row, _ = _machine(api)
        api.call("POST", "machines/?op=allocate", api.admin_key,
                 data={"system_id": row.system_id})
        api.call("POST", f"machines/{row.system_id}/?op=deploy", api.admin_key)
        with api.store.write() as conn:
            token = machine_token(conn, row.id)
        oauth = {"Authorization": f'OAuth oauth_consumer_key="{row.system_id}", oauth_token='
                                  f'"{row.system_id}", oauth_signature_method="PLAINTEXT", '
                                  f'oauth_signature="{quote("&" + token)}"'}
        return row, oauth

    def post(row, headers, **event):  # type: ignore[no-untyped-def]
        event = {"origin": "cloudinit", "description": "", **event}
        answer = api.client.post(f"/MAAS/metadata/status/{row.system_id}", headers=headers,
                                 json=event)
        assert answer.status_code == 204
        return api.call("GET", f"machines/{row.system_id}/", api.admin_key).get_json()

    row, headers = deploying()
    seen = post(row, headers, event_type="finish", name="modules-final/config-scripts-user",
                result="SUCCESS")
    assert seen["status_name"] == "Deploying"  # a child stage is not the end
    done = post(row, headers, event_type="finish", name="modules-final", result="SUCCESS")
    assert done["status_name"] == "Deployed"
    assert done["status_message"] == "Deployed: cloud-init finished (SUCCESS)"
    api.call("POST", f"machines/{row.system_id}/?op=release", api.admin_key)
    row, headers = deploying()
    failed = post(row, headers, event_type="finish", name="modules-final", result="FAIL",
                  description="runcmd exited 1")
    assert failed["status_name"] == "Failed deployment"
    assert "cloudinit modules-final failed: runcmd exited 1" in failed["status_message"]
