"""The rack charm with ops.testing (Scenario): install, config, the region relation
joining, changing and breaking, the status messages; then its rendered unit, started for
real, registers with a running region using the secret passed over the relation."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from ops import testing

from baremetal.children import die_with_parent
from baremetal.operator import parse_environment_file
from baremetal.store.racks import rack_secret

from .api import oauth_header
from .charms import context, load, recording
from .live import free_port, start_region, stop_region

charm = load("rack", "rack_charm")


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    workload = recording(charm.RackWorkload, tmp_path)
    workload.calls = []
    monkeypatch.setattr(workload, "install", lambda self: workload.calls.append(("apt",)))
    monkeypatch.setattr(charm, "RackWorkload", workload)
    ctx = context("rack", charm.RackCharm)
    ctx.root = tmp_path  # type: ignore[attr-defined]
    ctx.calls = workload.calls  # type: ignore[attr-defined]
    return ctx


def _region_relation(url: str = "http://10.0.0.2:5240/MAAS/", shared: str = "s" * 64):  # type: ignore[no-untyped-def]
    secret = testing.Secret({"secret": shared})
    relation = testing.Relation("region", remote_app_name="baremetal-region",
                                remote_app_data={"api-url": url, "secret-id": secret.id})
    return relation, secret


def _unit(root: Path) -> tuple[list[str], dict[str, str]]:
    unit = (root / "etc/systemd/system/baremetal-rack.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    env = parse_environment_file((root / "etc/baremetal/rack.env").read_text())
    return exec_start.removeprefix("ExecStart=").split(), env


def test_install_installs_packages_and_asks_for_a_region(ctx):
    out = ctx.run(ctx.on.install(), testing.State())
    assert ("apt",) in ctx.calls
    assert out.unit_status == testing.BlockedStatus(
        "needs a region relation (juju integrate baremetal-rack baremetal-region)")


def test_joined_without_data_waits_and_publishes_its_address(ctx):
    relation = testing.Relation("region", remote_app_name="baremetal-region")
    out = ctx.run(ctx.on.relation_joined(relation), testing.State(relations=[relation]))
    assert out.get_relation(relation.id).local_unit_data["address"] == "192.0.2.0"
    assert out.unit_status == testing.WaitingStatus("waiting for the region's URL and secret")
    assert not (ctx.root / "etc/systemd/system/baremetal-rack.service").exists()


def test_region_data_renders_and_starts_the_rack(ctx):
    relation, secret = _region_relation()
    out = ctx.run(ctx.on.relation_changed(relation), testing.State(
        relations=[relation], secrets=[secret], config={"interface": "lo", "dhcp": False}))
    command, env = _unit(ctx.root)
    assert command[command.index("--region-url") + 1] == "http://10.0.0.2:5240"
    assert command[command.index("--listen") + 1] == "127.0.0.1"  # the interface's address
    assert "--no-dhcp" in command and "s" * 64 not in " ".join(command)
    assert env["BAREMETAL_RACK_SECRET"] == "s" * 64
    assert (ctx.root / "etc/baremetal/rack.env").stat().st_mode & 0o777 == 0o600
    assert ("restart", "baremetal-rack.service") in ctx.calls
    assert out.unit_status == testing.ActiveStatus("serving boot on lo")


def test_config_changes_restart_and_region_gone_stops(ctx):
    relation, secret = _region_relation()
    state = testing.State(relations=[relation], secrets=[secret])
    ctx.run(ctx.on.config_changed(), state)
    ctx.calls.clear()
    ctx.run(ctx.on.config_changed(), state)
    assert ctx.calls == []  # nothing changed: no restart
    ctx.run(ctx.on.config_changed(), testing.State(relations=[relation], secrets=[secret],
                                                   config={"tftp-port": 6969}))
    command, _ = _unit(ctx.root)
    assert command[command.index("--tftp-port") + 1] == "6969"
    assert ("restart", "baremetal-rack.service") in ctx.calls
    ctx.run(ctx.on.relation_broken(relation), testing.State(relations=[relation],
                                                            secrets=[secret]))
    assert ctx.calls[-1] == ("stop", "baremetal-rack.service")


def test_the_rendered_unit_registers_with_a_running_region(ctx, tmp_path):
    region = start_region(tmp_path / "region", command="region")
    with region.store.write() as conn:
        shared = rack_secret(conn)
    relation, secret = _region_relation(region.url, shared)
    ctx.run(ctx.on.relation_changed(relation), testing.State(
        relations=[relation], secrets=[secret], config={
            "interface": "lo", "dhcp": False, "tftp-port": free_port("udp"),
            "http-port": free_port()}))
    command, env = _unit(ctx.root)
    process = subprocess.Popen(command, env={**env, "PATH": "/usr/sbin:/usr/bin:/bin"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 60
        while True:
            request = urllib.request.Request(region.api + "rackcontrollers/", headers={
                "Authorization": oauth_header(region.admin_key)})
            with urllib.request.urlopen(request, timeout=30) as response:
                racks = json.load(response)
            if [r["name"] for r in racks if r["status"] == "up"] == ["baremetal-rack-0"]:
                break
            assert process.poll() is None and time.monotonic() < deadline, racks
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=30)
        stop_region(region)
