"""The rack agent against a live region: registers with the secret, heartbeats, runs
power jobs and polls power states over the rack protocol."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from baremetal.children import die_with_parent
from baremetal.store.machines import NewMachine

from .api import oauth_header
from .bmcs import virtual_bmcs
from .conftest import add_ready
from .live import BAREMETAL, start_region, stop_region, wait_until


@pytest.fixture
def region(tmp_path):
    region = start_region(tmp_path, command="region")  # no in-process power worker
    yield region
    stop_region(region)


def _api(region, method: str, path: str):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(region.api + path, method=method,
                                     headers={"Authorization": oauth_header(region.admin_key)})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _secret(region) -> str:  # type: ignore[no-untyped-def]
    return subprocess.run([str(BAREMETAL), "rack-secret", "--database-url", region.store.url],
                          capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def test_the_rack_registers_and_runs_power_for_the_region(region):
    region_url = region.url.removesuffix("/MAAS/")
    with virtual_bmcs(1, "admin", "rack-pw-1") as (bmc,):
        [system_id] = add_ready(region.store, [NewMachine(
            hostname="racked", power_type="ipmi", power_parameters={
                "power_address": f"127.0.0.1:{bmc.port}", "power_user": "admin",
                "power_pass": "rack-pw-1"})])
        rack = subprocess.Popen([str(BAREMETAL), "rack", "--region-url", region_url,
                                 "--secret", _secret(region), "--name", "rack-a",
                                 "--poll-interval", "1", "--no-boot"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)
        try:
            wait_until(lambda: [r["name"] for r in _api(region, "GET", "rackcontrollers/")
                           if r["status"] == "up"] == ["rack-a"], 30, "the rack to register")
            _api(region, "POST", f"machines/{system_id}/?op=power_on")
            wait_until(lambda: bmc.power == "on", 30, "the rack to power the machine on")
            assert bmc.booted_from == ["network"]
            # Someone presses the button: the rack's poller notices.
            bmc.power = "off"
            wait_until(lambda: _api(region, "GET", f"machines/{system_id}/")["power_state"]
                       == "off", 30, "the poll to see the machine off")
            assert _api(region, "GET", f"machines/{system_id}/?op=query_power_state") == {
                "state": "off"}
        finally:
            rack.terminate()
            rack.wait(timeout=30)


def test_a_rack_with_the_wrong_secret_is_refused(region):
    done = subprocess.run([str(BAREMETAL), "rack", "--region-url",
                           region.url.removesuffix("/MAAS/"), "--secret", "not-the-secret"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "refused the rack secret" in done.stderr
    assert _api(region, "GET", "rackcontrollers/") == []
