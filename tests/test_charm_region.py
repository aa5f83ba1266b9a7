"""The region charm with ops.testing (Scenario): every event and relation, leader and not,
each action's success and failure, the status messages. The workload is real (files,
migrations, SQLite or the test PostgreSQL); only systemctl is recorded. Then the rendered
unit is started for real, on SQLite and on the PostgreSQL URL from relation data."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ops import testing
from sqlalchemy.engine import make_url

from baremetal.children import die_with_parent
from baremetal.operator import parse_environment_file

from .charms import context, load, recording
from .live import free_port, wait_for_http

charm = load("region", "region_charm")


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    workload = recording(charm.RegionWorkload, tmp_path)
    workload.calls = []
    monkeypatch.setattr(charm, "RegionWorkload", workload)
    ctx = context("region", charm.RegionCharm)
    ctx.root = tmp_path  # type: ignore[attr-defined]
    ctx.calls = workload.calls  # type: ignore[attr-defined]
    return ctx


def _unit(root: Path) -> tuple[list[str], dict[str, str]]:
    unit = (root / "etc/systemd/system/baremetal-region.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    env = parse_environment_file((root / "etc/baremetal/region.env").read_text())
    return exec_start.removeprefix("ExecStart=").split(), env


@pytest.fixture
def postgresql(postgres_server):
    """Relation data as the postgresql charm publishes it, for a fresh test database."""
    url = make_url(postgres_server.create())
    return {"endpoints": f"{url.host}:{url.port or 5432}", "database": url.database,
            "username": url.username or "postgres", "password": url.password or "trust"}


def test_install_on_sqlite_renders_and_starts_the_region(ctx):
    out = ctx.run(ctx.on.install(), testing.State(leader=True, config={"port": 5240}))
    command, env = _unit(ctx.root)
    assert command[1:4] == ["-m", "baremetal.cli", "region"] and "5240" in command
    assert "BAREMETAL_DATABASE_URL" in env and env["BAREMETAL_DATABASE_URL"].startswith(
        "sqlite:///")
    assert ("restart", "baremetal-region.service") in ctx.calls
    assert (ctx.root / "etc/baremetal/region.env").stat().st_mode & 0o777 == 0o600
    assert out.unit_status == testing.ActiveStatus(
        "serving http://192.0.2.0:5240/MAAS/ (SQLite)")


def test_config_changed_restarts_only_when_the_unit_changes(ctx):
    state = testing.State(leader=True, config={"port": 5240})
    ctx.run(ctx.on.config_changed(), state)
    ctx.calls.clear()
    ctx.run(ctx.on.config_changed(), state)
    assert ctx.calls == []
    ctx.run(ctx.on.config_changed(), testing.State(leader=True, config={"port": 5299}))
    assert ("restart", "baremetal-region.service") in ctx.calls


def test_several_units_without_a_database_are_blocked(ctx):
    out = ctx.run(ctx.on.config_changed(), testing.State(leader=True, planned_units=2))
    assert out.unit_status == testing.BlockedStatus(
        "2 units need a database relation (SQLite serves one unit only)")
    assert not (ctx.root / "etc/systemd/system/baremetal-region.service").exists()


def test_database_joined_requests_a_database_and_waits(ctx):
    relation = testing.Relation("database", remote_app_name="postgresql")
    out = ctx.run(ctx.on.relation_joined(relation), testing.State(leader=True,
                                                                   relations=[relation]))
    sent = out.get_relation(relation.id).local_app_data
    assert sent["database"] == "baremetal" and "password" in sent["requested-secrets"]
    assert out.unit_status == testing.WaitingStatus("waiting for database")


def test_database_credentials_from_a_juju_secret(ctx, postgresql):
    secret = testing.Secret({"username": postgresql["username"],
                             "password": postgresql["password"]})
    relation = testing.Relation("database", remote_app_name="postgresql", remote_app_data={
        "endpoints": postgresql["endpoints"], "database": postgresql["database"],
        "secret-user": secret.id})
    out = ctx.run(ctx.on.relation_changed(relation), testing.State(
        leader=True, relations=[relation], secrets=[secret]))
    _, env = _unit(ctx.root)
    url = make_url(env["BAREMETAL_DATABASE_URL"])
    assert url.drivername.startswith("postgresql") and url.database == postgresql["database"]
    assert out.unit_status == testing.ActiveStatus(
        "serving http://192.0.2.0:5240/MAAS/ (PostgreSQL)")
    # Migrated for real: the schema is there.
    from baremetal.store import Store
    from baremetal.store.migrate import current_revision

    store = Store(env["BAREMETAL_DATABASE_URL"])
    assert current_revision(store) is not None
    store.dispose()


def test_database_credentials_from_plain_relation_data(ctx, postgresql):
    relation = testing.Relation("database", remote_app_name="postgresql",
                                remote_app_data=postgresql)
    ctx.run(ctx.on.relation_changed(relation), testing.State(leader=True,
                                                             relations=[relation]))
    _, env = _unit(ctx.root)
    assert make_url(env["BAREMETAL_DATABASE_URL"]).database == postgresql["database"]


def test_database_broken_goes_back_to_sqlite_for_one_unit(ctx):
    relation = testing.Relation("database", remote_app_name="postgresql")
    out = ctx.run(ctx.on.relation_broken(relation), testing.State(leader=True,
                                                                   relations=[relation]))
    _, env = _unit(ctx.root)
    assert env["BAREMETAL_DATABASE_URL"].startswith("sqlite:///")
    assert out.unit_status.name == "active"


def test_the_leader_shares_the_rack_secret_with_racks(ctx):
    rack = testing.Relation("rack", remote_app_name="baremetal-rack",
                            remote_units_data={0: {"address": "10.0.0.7"}})
    peers = testing.PeerRelation("region-peers")
    out = ctx.run(ctx.on.relation_joined(rack), testing.State(leader=True,
                                                               relations=[rack, peers]))
    published = out.get_relation(rack.id).local_app_data
    assert published["api-url"] == "http://192.0.2.0:5240/MAAS/"
    [secret] = [s for s in out.secrets if s.label == "rack-shared-secret"]
    assert published["secret-id"] == secret.id
    assert len(secret.tracked_content["secret"]) == 64
    assert out.get_relation(peers.id).local_app_data["initialised"] == "true"
    assert secret.tracked_content["secret"] not in json.dumps(dict(published))


def test_a_non_leader_publishes_nothing(ctx):
    rack = testing.Relation("rack", remote_app_name="baremetal-rack")
    out = ctx.run(ctx.on.relation_joined(rack), testing.State(leader=False, relations=[rack]))
    assert dict(out.get_relation(rack.id).local_app_data) == {}
    assert not [s for s in out.secrets if s.label == "rack-shared-secret"]


def test_maas_api_consumers_get_their_own_key_and_lose_it(ctx):
    relation = testing.Relation("maas-api", remote_app_name="watcher")
    out = ctx.run(ctx.on.relation_joined(relation), testing.State(leader=True,
                                                                   relations=[relation]))
    published = out.get_relation(relation.id).local_app_data
    [secret] = [s for s in out.secrets if s.label == f"maas-api-{relation.id}"]
    assert published["secret-id"] == secret.id
    key = secret.tracked_content["api-key"]
    assert len(key.split(":")) == 3
    from baremetal.store import Store
    from baremetal.store.accounts import user_for_token

    url = parse_environment_file((ctx.root / "etc/baremetal/region.env").read_text())[
        "BAREMETAL_DATABASE_URL"]
    store = Store(url)
    with store.read() as conn:
        assert user_for_token(conn, *key.split(":")).username == "maas-api-watcher"
    ctx.run(ctx.on.relation_broken(relation), testing.State(
        leader=True, relations=[relation], secrets=[secret]))
    with store.read() as conn:
        assert user_for_token(conn, *key.split(":")) is None  # the consumer's user is gone
    store.dispose()


def _action(ctx, name: str, params: dict | None = None, **state):  # type: ignore[no-untyped-def]
    ctx.run(ctx.on.action(name, params=params or {}), testing.State(leader=True, **state))
    return dict(ctx.action_results or {})


def test_actions_create_admin_get_key_and_endpoint(ctx):
    assert _action(ctx, "create-admin", {"username": "root", "password": "a-long-password",
                                         "email": "r@example.com"}) == {"username": "root"}
    key = _action(ctx, "get-api-key", {"username": "root"})["api-key"]
    assert len(key.split(":")) == 3
    assert _action(ctx, "get-api-endpoint") == {"api-url": "http://192.0.2.0:5240/MAAS/"}
    with pytest.raises(testing.ActionFailed) as failed:
        _action(ctx, "create-admin", {"username": "root", "password": "a-long-password"})
    assert "already exists" in failed.value.message
    with pytest.raises(testing.ActionFailed) as failed:
        _action(ctx, "create-admin", {"username": "x", "password": "short"})
    assert "at least 8" in failed.value.message
    with pytest.raises(testing.ActionFailed) as failed:
        _action(ctx, "get-api-key", {"username": "nobody"})
    assert "No user named 'nobody'" in failed.value.message


def test_actions_add_commission_and_list_machines(ctx):
    params = {"hostname": "m1", "mac": "52:54:00:AA:00:01", "power-type": "ipmi",
              "power-parameters": json.dumps({"power_address": "10.0.0.9",
                                              "power_user": "admin", "power_pass": "pw"})}
    added = _action(ctx, "add-machine", params)
    assert added["status"] == "New"
    commissioned = _action(ctx, "commission-node", {"system-id": added["system-id"],
                                                    "testing-scripts": "cpu-stress"})
    assert commissioned == {"status": "Commissioning"}
    listed = json.loads(_action(ctx, "list-machines", {"status": "commissioning"})["machines"])
    assert [(m["hostname"], m["status"]) for m in listed] == [("m1", "Commissioning")]
    for name, bad, message in (
        ("add-machine", {**params, "hostname": "m2", "power-parameters": "[1]"},
         "not a JSON object"),
        ("add-machine", {**params, "hostname": "m3", "power-parameters": "{}"},
         "power-parameters"),
        ("commission-node", {"system-id": "nope"}, "No machine with system id 'nope'"),
        ("commission-node", {"system-id": added["system-id"]}, "Commissioning"),
        ("commission-node", {"system-id": added["system-id"], "testing-scripts": "fly"},
         "unknown script"),
        ("list-machines", {"status": "flying"}, "not a machine status"),
        ("build-images", {"os": "windows/11"}, "can only build debian/bookworm"),
    ):
        with pytest.raises(testing.ActionFailed) as failed:
            _action(ctx, name, bad)
        assert message in failed.value.message, (name, failed.value.message)


def test_actions_fail_while_blocked(ctx):
    with pytest.raises(testing.ActionFailed) as failed:
        ctx.run(ctx.on.action("list-machines"), testing.State(leader=True, planned_units=3))
    assert "3 units need a database relation" in failed.value.message


def test_the_rendered_unit_serves_on_sqlite_and_on_postgresql(ctx, postgresql, tmp_path):
    """The command and environment the charm renders, started for real."""
    for relations in ([], [testing.Relation("database", remote_app_name="postgresql",
                                            remote_app_data=postgresql)]):
        port = free_port()
        ctx.run(ctx.on.config_changed(), testing.State(leader=True, config={"port": port},
                                                       relations=relations))
        command, env = _unit(ctx.root)
        process = subprocess.Popen(command, env={**env, "PATH": "/usr/bin:/bin"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=die_with_parent)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/MAAS/api/2.0/version/", process)
        finally:
            process.terminate()
            process.wait(timeout=30)
