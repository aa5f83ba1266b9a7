"""Authentication, permissions and secrets."""

from __future__ import annotations

import itertools
import logging
import re

import baremetal.region.handlers  # noqa: F401  (fills the registry)
from baremetal.region.registry import registry

from .api import BMC_PASSWORD, oauth_header


def _url(resource) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"{\w+}", "x1", resource.path)


AUTHENTICATED = [
    (resource, action)
    for resource in registry.resources if not resource.anonymous
    for action in resource.actions.values() if not action.anonymous
]


def _request(api, resource, action, headers):  # type: ignore[no-untyped-def]
    url = _url(resource) + (f"?op={action.op}" if action.op else "")
    return api.client.open(url, method=action.method, headers=headers)


def test_every_authenticated_action_refuses_no_key_and_wrong_keys(api):
    assert len(AUTHENTICATED) > 50
    consumer, token, _ = api.admin_key.split(":")
    for (resource, action), headers in itertools.product(AUTHENTICATED, (
        {},
        {"Authorization": oauth_header(f"{consumer}:{token}:wrongsecret")},
        {"Authorization": oauth_header("nobody:nothing:nosecret")},
        {"Authorization": "OAuth garbage"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
    )):
        response = _request(api, resource, action, headers)
        assert response.status_code == 401, (resource.path, action.name, headers)
        assert response.mimetype == "text/plain"


def test_anonymous_resources_accept_signed_and_unsigned(api):
    for key in (None, api.admin_key):
        assert api.call("GET", "version/", key).status_code == 200
        assert api.call("GET", "describe/", key).status_code == 200


def test_unknown_op_is_400_with_maas_message(api):
    response = api.call("POST", "machines/?op=frobnicate", api.admin_key)
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Unrecognised signature: method=POST op=frobnicate"


def _system_ids(api, key):  # type: ignore[no-untyped-def]
    return {m["system_id"] for m in api.call("GET", "machines/", key).get_json()}


def test_non_admin_permissions(api):
    everything = _system_ids(api, api.admin_key)
    assert _system_ids(api, api.user_key) == everything  # all Ready: the pool is visible
    bobs = api.call("POST", "machines/?op=allocate", api.other_key).get_json()["system_id"]
    # Alice cannot see Bob's machine, nor act on it.
    assert bobs not in _system_ids(api, api.user_key)
    assert api.call("GET", f"machines/{bobs}/", api.user_key).status_code == 404
    assert api.call("POST", f"machines/{bobs}/?op=deploy", api.user_key).status_code == 404
    assert api.call("POST", f"machines/{bobs}/?op=power_off", api.user_key).status_code == 404
    released = api.call("POST", "machines/?op=release", api.user_key, data={"machines": bobs})
    assert released.status_code == 403 and bobs in released.get_data(as_text=True)
    # Bob can.
    assert api.call("GET", f"machines/{bobs}/", api.other_key).status_code == 200
    # Admin-only operations.
    ready = sorted(everything - {bobs})[0]
    assert api.call("GET", "machines/?op=power_parameters", api.user_key).status_code == 403
    assert api.call("DELETE", f"machines/{ready}/", api.user_key).status_code == 403
    assert api.call("POST", "machines/", api.user_key,
                    data={"mac_addresses": "52:54:00:ff:ff:01"}).status_code == 403
    assert api.call("POST", f"machines/{ready}/?op=commission", api.user_key).status_code == 403
    assert api.call("POST", "zones/", api.user_key, data={"name": "zz"}).status_code == 403
    assert api.call("POST", "tags/", api.user_key, data={"name": "tt"}).status_code == 403
    # Nothing was deleted or changed by the refused calls.
    assert _system_ids(api, api.admin_key) == everything
    # Admins read power parameters.
    params = api.call("GET", "machines/?op=power_parameters", api.admin_key).get_json()
    assert params[ready]["power_pass"] == BMC_PASSWORD


def test_unknown_machine_ids_give_empty_list_and_bulk_release_400(api):
    assert api.call("GET", "machines/?id=nosuch", api.admin_key).get_json() == []
    response = api.call("POST", "machines/?op=release", api.admin_key,
                        data={"machines": "nosuch"})
    assert response.status_code == 400 and "nosuch" in response.get_data(as_text=True)


def test_secrets_never_leave(api, caplog):
    """BMC passwords and token secrets appear in no response, log line or event, except
    the responses whose purpose is to hand over a key or (to admins) power parameters."""
    caplog.set_level(logging.DEBUG)
    secrets = [BMC_PASSWORD] + [key.split(":")[2] for key in
                                (api.admin_key, api.user_key, api.other_key)]
    bodies = []
    system_id = sorted(_system_ids(api, api.admin_key))[0]
    for key in (api.admin_key, api.user_key):
        for method, path, data in [
            ("GET", "machines/", None), ("GET", f"machines/{system_id}/", None),
            ("GET", "users/?op=whoami", None), ("GET", "account/?op=list_authorisation_tokens",
                                               None),
            ("GET", "describe/", None), ("GET", "events/?op=query", None),
            ("POST", "machines/?op=allocate", {"agent_name": "a"}),
            ("POST", f"machines/{system_id}/?op=power_on", None),
            ("GET", f"machines/{system_id}/?op=query_power_state", None),
            ("GET", "tags/gpu/?op=machines", None),
        ]:
            bodies.append(api.call(method, path, key, data=data).get_data(as_text=True))
    bodies.append(api.call("GET", "machines/?op=power_parameters", api.user_key)
                  .get_data(as_text=True))
    with api.store.read() as conn:
        from sqlalchemy import select

        from baremetal.store import schema as t
        events = [" ".join(str(v) for v in row) for row in conn.execute(select(t.events))]
    logs = [record.getMessage() for record in caplog.records]
    for secret in secrets:
        for text in bodies + events + logs:
            assert secret not in text
