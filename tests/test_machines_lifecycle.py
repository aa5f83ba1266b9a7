"""Machines from power-on to deployed, with simulated machines on the real paths: their
BMCs answer IPMI over UDP, they fetch their iPXE config from the rack over TFTP and the
real image over HTTP, run the image's own scripts with busybox against their hardware
description and report through the metadata API, which the rack forwards to the region.
Deploy and release go through python-libmaas."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from maas.client import connect

from baremetal.sim.farm import SimFarm
from baremetal.sim.machine import varied
from baremetal.store.boot import enlistment_token

from .api import oauth_header
from .live import BAREMETAL, http_status, start_region, stop_region, store_image, wait_until

COUNT = 8
FAULTY = 3  # this machine's second disk cannot be read
HANGS = 8  # this one's disk hangs when it is commissioned again


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    asyncio.set_event_loop(asyncio.new_event_loop())
    directory = tmp_path_factory.mktemp("lifecycle")
    region = start_region(directory, env={"BAREMETAL_REPORT_TIMEOUT": "15",
                                          "BAREMETAL_MONITOR_INTERVAL": "1"})
    store_image(region.store)  # the real one: Debian's kernel, our initramfs
    yield region
    stop_region(region)
    log = region.log()
    assert "Traceback" not in log
    assert "factory-password" not in log and "power_pass=" not in log


def api(region, method: str, path: str, data: dict | None = None):  # type: ignore[no-untyped-def]
    body = urllib.parse.urlencode(data or {}, doseq=True).encode() if method != "GET" else None
    request = urllib.request.Request(region.api + path, method=method, data=body, headers={
        "Authorization": oauth_header(region.admin_key)})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def statuses(region) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m["hostname"]: m["status_name"] for m in api(region, "GET", "machines/")}


@pytest.fixture(scope="module")
def farm(region):
    # Wait for the rack to have the image before anything boots.
    wait_until(lambda: http_status(f"http://127.0.0.1:{region.http_port}/images/amd64/ephemeral/"
                             "initrd") == 200, 60, "the rack to sync the image")
    hardware = [varied(n, faulty_disk=n == FAULTY) for n in range(1, COUNT + 1)]
    with SimFarm(hardware, "127.0.0.1", region.tftp_port) as farm:
        yield farm


@pytest.fixture(scope="module")
def enlisted(region, farm):
    farm.power_on_all()  # new servers PXE boot: unknown MACs run the enlistment image
    machines = wait_until(lambda: (lambda ms: ms if len(ms) == COUNT else None)(
        api(region, "GET", "machines/")), 120, "8 machines to enlist",
        lambda: "\n".join(m.last_output[-400:] for m in farm.machines))
    wait_until(lambda: all(m.bmc.power == "off" for m in farm.machines), 60,
             "the enlistment image to power the machines off")
    return {m["boot_interface"]["mac_address"]: m for m in machines}


@pytest.fixture(scope="module")
def commissioned(region, farm, enlisted):
    for machine in enlisted.values():
        api(region, "POST", f"machines/{machine['system_id']}/?op=commission")
    wait_until(lambda: set(statuses(region).values()) == {"Ready"}, 180,
               "commissioning to finish", lambda: repr(statuses(region)) + "\n" + "\n".join(
                   m.last_output[-400:] for m in farm.machines))
    return {m["boot_interface"]["mac_address"]: m for m in api(region, "GET", "machines/")}


def _metadata(region, path: str, token: str | None, data: bytes | None = None) -> int:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{region.url}metadata/latest/{path}", data=data,
                                     headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_enlisting_needs_the_enlistment_token(region):
    for token in (None, "not-the-token"):
        assert _metadata(region, "script", token) == 401
        assert _metadata(region, "enlist", token, b"x") == 401
    with region.store.write() as conn:
        token = enlistment_token(conn)
    assert _metadata(region, "script", token) == 200
    assert _metadata(region, "signal", token, b"status=OK") == 401  # it only enlists
    rotated = subprocess.run([str(BAREMETAL), "enlistment-token", "--rotate",
                              "--database-url", region.store.url], capture_output=True,
                             text=True, timeout=60, check=True).stdout.strip()
    assert rotated != token and _metadata(region, "script", token) == 401
    assert _metadata(region, "script", rotated) == 200


def test_machines_enlist_with_their_inventory_and_bmc(region, farm, enlisted):
    for sim in farm.machines:
        machine = enlisted[sim.hardware.pxe_mac]
        hw = sim.hardware
        assert machine["status_name"] == "New"
        assert machine["cpu_count"] == hw.cpus and machine["memory"] == hw.memory_mib
        assert sorted(i["mac_address"] for i in machine["interface_set"]) == sorted(
            n.mac for n in hw.nics)
        assert machine["power_type"] == "ipmi"


def test_commissioning_records_the_hardware_and_makes_bmc_credentials(region, farm,
                                                                      commissioned):
    for sim in farm.machines:
        machine = commissioned[sim.hardware.pxe_mac]
        hw = sim.hardware
        assert machine["status_name"] == "Ready", machine["status_message"]
        assert machine["cpu_count"] == hw.cpus and machine["memory"] == hw.memory_mib
        assert machine["cpu_speed"] == hw.cpu_mhz
        assert machine["architecture"] == "amd64/generic"
        assert machine["hardware_info"]["cpu_model"] == hw.cpu_model
        disks = sorted((d["name"], d["size"], d["model"], d["serial"])
                       for d in machine["blockdevice_set"])
        assert disks == sorted((d.name, d.size, d.model, d.serial) for d in hw.disks)
        # The default (flat) layout on the boot disk, as MAAS applies at commissioning.
        boot = {d["name"]: d for d in machine["blockdevice_set"]}[machine["boot_disk"]["name"]]
        assert [(p["filesystem"] or {}).get("mount_point") for p in boot["partitions"]] == [
            None, "/boot/efi", "/"]
        nics = {i["mac_address"]: i for i in machine["interface_set"]}
        for nic in hw.nics:
            assert nics[nic.mac]["link_speed"] == nic.speed and nic.driver in nics[nic.mac][
                "tags"]
        assert machine["boot_interface"]["mac_address"] == hw.pxe_mac
        # A "maas" BMC user with a generated password works on the real BMC.
        params = api(region, "GET", f"machines/{machine['system_id']}/?op=power_parameters")
        assert params["power_user"] == "maas" and len(params["power_pass"]) >= 12
        assert params["power_address"] == sim.bmc_address
        done = subprocess.run(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p",
                               str(sim.bmc.port), "-U", "maas", "-P", params["power_pass"],
                               "chassis", "power", "status"], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0 and "Chassis Power is off" in done.stdout


def test_commissioning_results_are_kept_per_script(region, farm, commissioned):
    machine = commissioned[farm.machines[0].hardware.pxe_mac]
    [latest, *_] = api(region, "GET", f"nodes/{machine['system_id']}/results/"
                       "?type=commissioning&include_output=1")
    assert latest["status"] == "passed"
    outputs = {r["name"]: base64.b64decode(r["output"]).decode() for r in latest["results"]}
    assert set(outputs) >= {"00-cpu", "01-memory", "02-block-devices", "03-interfaces",
                            "05-bmc-config"}
    assert farm.machines[0].hardware.cpu_model in outputs["00-cpu"]
    assert "power_pass=********" in outputs["05-bmc-config"]  # never the password
    assert all(r["exit_status"] == 0 and r["runtime"] is not None for r in latest["results"])
    legacy = api(region, "GET", f"commissioning-results/?system_id={machine['system_id']}"
                 "&name=01-memory")
    assert "MemTotal" in base64.b64decode(legacy[0]["data"]).decode()


def test_a_failing_test_leaves_the_machine_failed_testing(region, farm, commissioned):
    faulty = commissioned[farm.machines[FAULTY - 1].hardware.pxe_mac]["system_id"]
    healthy = commissioned[farm.machines[1].hardware.pxe_mac]["system_id"]
    api(region, "POST", f"machines/{faulty}/?op=test",
        {"testing_scripts": "memory-check,disk-read"})
    api(region, "POST", f"machines/{healthy}/?op=test")  # every test
    wait_until(lambda: api(region, "GET", f"machines/{faulty}/")["status_name"]
             == "Failed testing", 120, "the faulty machine to fail testing")
    wait_until(lambda: api(region, "GET", f"machines/{healthy}/")["status_name"] == "Ready",
             120, "the healthy machine to pass")
    machine = api(region, "GET", f"machines/{faulty}/")
    assert "disk-read failed" in machine["status_message"]
    [run, *_] = api(region, "GET", f"nodes/{faulty}/results/?type=testing&include_output=1")
    results = {r["name"]: r for r in run["results"]}
    assert results["memory-check"]["status"] == "passed"
    assert results["disk-read"]["status"] == "failed"
    assert results["disk-read"]["exit_status"] == 1
    assert "sdb: read failed" in base64.b64decode(results["disk-read"]["output"]).decode()
    [passed, *_] = api(region, "GET", f"nodes/{healthy}/results/?type=testing")
    assert {r["name"]: r["status"] for r in passed["results"]} == {
        "cpu-stress": "passed", "memory-check": "passed", "disk-read": "passed",
        "network-rack": "passed"}


def test_deploy_and_release_through_libmaas(region, farm, commissioned):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBaremetalTestKey admin@test"
    api(region, "POST", "account/prefs/sshkeys/", {"key": key})
    client = connect(region.url, apikey=region.admin_key)
    sim = farm.machines[1]
    hostname = commissioned[sim.hardware.pxe_mac]["hostname"]
    machine = client.machines.allocate(hostname=hostname)
    machine.deploy(user_data=b"#!/bin/sh\necho hello > \"$ROOT/etc/hello\"\n", wait=True,
                   wait_interval=1)
    machine.refresh()
    assert machine.status_name == "Deployed"
    root = sim.workdir / "root"
    assert (root / "etc/baremetal-deployed").is_file()
    assert (root / "root/.ssh/authorized_keys").read_text() == key + "\n"
    assert (root / "etc/hello").read_text() == "hello\n"  # the user data ran
    assert sim.bmc.power == "on"  # an ephemeral deployment keeps running
    machine.release(wait=True, wait_interval=1)
    assert machine.status_name == "Ready"
    wait_until(lambda: sim.bmc.power == "off", 30, "release to power the machine off")
    # Release with a quick erase: the machine boots the erase program, then is Ready.
    machine = client.machines.allocate(hostname=hostname)
    machine.deploy(wait=True, wait_interval=1)
    machine.release(erase=True, quick_erase=True, wait=True, wait_interval=1)
    assert machine.status_name == "Ready"
    events = api(region, "GET", f"events/?op=query&id={machine.system_id}&limit=50")
    assert any("Disk erasing" in (e["description"] + e["type"]) for e in events["events"])


def test_deploying_to_disk_is_refused_with_a_reason(region, commissioned):
    system_id = next(iter(commissioned.values()))["system_id"]
    request = urllib.request.Request(
        region.api + f"machines/{system_id}/?op=deploy", method="POST",
        data=b"install_to_disk=true", headers={"Authorization": oauth_header(region.admin_key)})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    assert "deployment to disk is not available" in refused.value.read().decode()


def test_a_machine_that_stops_reporting_fails_after_its_deadline(region, farm, commissioned):
    sim = farm.machines[HANGS - 1]
    disks = tuple(replace(d, hangs=True) if d.name == "sda" else d for d in sim.hardware.disks)
    sim.hardware = replace(sim.hardware, disks=disks)  # its disk now hangs when asked
    system_id = commissioned[sim.hardware.pxe_mac]["system_id"]
    api(region, "POST", f"machines/{system_id}/?op=commission")
    machine = wait_until(lambda: (lambda m: m if m["status_name"] == "Failed commissioning"
                                else None)(api(region, "GET", f"machines/{system_id}/")),
                       90, "the silent machine to fail")
    assert "timed out" in machine["status_message"]
    assert "Last report: Commissioning: reported 01-memory" in machine["status_message"]
