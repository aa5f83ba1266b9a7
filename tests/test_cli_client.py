"""The `baremetal` client commands against a live region with simulated machines, in table
and JSON output; and python-libmaas's `maas` command (login, then listing machines)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from baremetal.sim.farm import SimFarm
from baremetal.sim.machine import varied
from baremetal.store.references import create_tag, create_zone

from .live import BAREMETAL, start_region, stop_region, store_image, wait_until

MAAS = Path(BAREMETAL).with_name("maas")


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    asyncio.set_event_loop(asyncio.new_event_loop())
    directory = tmp_path_factory.mktemp("cli")
    region = start_region(directory)
    store_image(region.store)
    with region.store.write() as conn:
        create_zone(conn, "rack-b", "second row")
        create_tag(conn, "gpu", "has a GPU")
    wait_until(lambda: subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:"
                                     f"{region.http_port}/images/amd64/ephemeral/initrd"])
             .returncode == 0, 60, "the rack to sync the image")
    with SimFarm([varied(41), varied(42)], "127.0.0.1", region.tftp_port) as farm:
        env = {**os.environ, "BAREMETAL_CONFIG_DIR": str(directory / "config"),
               "HOME": str(directory)}
        yield region, farm, env
    stop_region(region)


def bm(env, *args: str, check: bool = True) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    done = subprocess.run([str(BAREMETAL), *args], capture_output=True, text=True, env=env,
                          timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_the_cli_drives_machines_through_their_life(setting):
    region, farm, env = setting
    # login: with a key, and with a username and password; the profile is private.
    assert "as admin" in bm(env, "login", "lab", region.url, region.admin_key).stdout
    assert "as alice" in bm(env, "login", "alice", region.url, "--username", "alice",
                            "--password", "alice-password").stdout
    profiles = Path(env["BAREMETAL_CONFIG_DIR"]) / "profiles.json"
    assert profiles.stat().st_mode & 0o777 == 0o600
    lab = ("--profile", "lab")
    # machines add / list / show, in both formats.
    added = []
    for sim in farm.machines:
        done = bm(env, "machines", "add", *lab, "--format", "json", "--mac",
                  sim.hardware.pxe_mac, "--power-type", "ipmi",
                  "--power", f"power_address={sim.bmc_address}",
                  "--power", f"power_user={sim.hardware.bmc_user}",
                  "--power", f"power_pass={sim.hardware.bmc_password}")
        added.append(json.loads(done.stdout)["system_id"])
    table = bm(env, "machines", "list", *lab).stdout.splitlines()
    assert table[0].split()[:3] == ["HOSTNAME", "SYSTEM_ID", "STATUS_NAME"]
    assert sorted(line.split()[1] for line in table[1:]) == sorted(added)
    listed = json.loads(bm(env, "machines", "list", *lab, "--format", "json").stdout)
    assert {m["system_id"] for m in listed} == set(added)
    first, second = added
    assert json.loads(bm(env, "machines", "show", *lab, first, "--format", "json").stdout)[
        "system_id"] == first
    # commission and test, waiting with progress.
    done = bm(env, "commission", *lab, first, "--wait")
    assert "Commissioning" in done.stderr and "Ready" in done.stdout
    bm(env, "commission", *lab, second, "--wait", "--format", "json")
    done = bm(env, "test", *lab, first, "--testing-scripts", "memory-check", "--wait")
    assert "Testing" in done.stderr and "Ready" in done.stdout
    # results, per machine and per run, with what the scripts printed.
    found = json.loads(bm(env, "results", *lab, first, "--type", "testing", "--format",
                          "json").stdout)
    assert [(r["script"], r["status"]) for r in found] == [("memory-check", "passed")]
    printed = bm(env, "results", *lab, first, "--type", "commissioning", "--output").stdout
    assert "MemTotal" in printed and "power_pass=********" in printed
    # power status / on / off.
    status = json.loads(bm(env, "power", "status", *lab, first, "--format", "json").stdout)
    assert status == {"system_id": first, "power_state": "off"}
    # allocate with constraints, deploy, release.
    hw = farm.machines[1].hardware
    allocated = json.loads(bm(env, "allocate", *lab, f"cpu_count={hw.cpus}",
                              f"mem={hw.memory_mib}", "--format", "json").stdout)
    assert allocated["status_name"] == "Allocated"
    done = bm(env, "deploy", *lab, allocated["system_id"], "--wait")
    assert "Deployed" in done.stdout
    done = bm(env, "release", *lab, allocated["system_id"], "--wait", "--format", "json")
    assert json.loads(done.stdout)["status_name"] == "Ready"
    # zones, tags, events, racks.
    assert "rack-b" in bm(env, "zones", *lab).stdout
    assert json.loads(bm(env, "tags", *lab, "--format", "json").stdout)[0]["name"] == "gpu"
    events = json.loads(bm(env, "events", *lab, "--machine", first, "--format", "json").stdout)
    assert any("to 'Ready'" in e["description"] for e in events), events
    first_hostname = next(m["hostname"] for m in listed if m["system_id"] == first)
    assert {e["hostname"] for e in events} == {first_hostname}  # that machine's only
    racks = json.loads(bm(env, "racks", *lab, "--format", "json").stdout)
    assert [r["status"] for r in racks] == ["up"]
    assert "STATUS" in bm(env, "racks", *lab).stdout.splitlines()[0]
    # Failures: a clear reason and a non-zero exit.
    failed = bm(env, "deploy", *lab, "nosuchid", check=False)
    assert failed.returncode == 1 and failed.stderr.startswith("error: 404")
    failed = bm(env, "machines", "delete", first, "--profile", "alice", check=False)
    assert failed.returncode == 1 and "403" in failed.stderr
    bm(env, "machines", "delete", *lab, second)
    assert second not in bm(env, "machines", "list", *lab).stdout
    logged_out = bm(env, "zones", "--profile", "nobody", check=False)
    assert logged_out.returncode == 1 and "Not logged in" in logged_out.stderr


def test_the_maas_command_of_python_libmaas(setting):
    region, _, env = setting
    done = subprocess.run([str(MAAS), "login", "--apikey", region.admin_key, "-p", "lab",
                           region.url], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    listing = subprocess.run([str(MAAS), "machines", "--profile", "lab", "--format", "json",
                              "--no-pager"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert listing.returncode == 0, listing.stderr
    machines = json.loads(listing.stdout)["data"]
    listed = json.loads(bm(env, "machines", "list", "--profile", "lab", "--format",
                           "json").stdout)
    assert sorted(m["hostname"] for m in machines) == sorted(m["hostname"] for m in listed)
    assert {m["status"] for m in machines} == {m["status_name"] for m in listed}
