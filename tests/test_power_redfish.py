"""The redfish driver against sushy-tools' Redfish emulator with its fake system driver."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from baremetal.children import die_with_parent
from baremetal.models import PowerState
from baremetal.power import PowerRetryableError, parse_settings, perform
from baremetal.power.redfish import RedfishDriver
from baremetal.power.runner import RetryPolicy

from .live import free_port, wait_for_http

EMULATOR = Path(sys.executable).with_name("sushy-emulator")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("redfish") / "emulator.log").open("wb")
    process = subprocess.Popen([str(EMULATOR), "--fake", "-i", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/redfish/v1/Systems", process)
    except RuntimeError:
        process.kill()
        raise
    yield url
    process.terminate()
    process.wait(timeout=30)


def _system(url: str) -> dict:
    members = json.load(urllib.request.urlopen(url + "/redfish/v1/Systems"))["Members"]
    return json.load(urllib.request.urlopen(url + members[0]["@odata.id"]))


def test_on_off_query_and_one_time_pxe(emulator):
    # The emulator's fake system applies each power change 1 to 11 seconds later, as a
    # real server would: the driver's confirmation waits for it.
    driver = RedfishDriver()
    s = parse_settings("redfish", {"power_address": emulator, "power_user": "admin",
                                   "power_pass": "password"})
    perform(driver, s, "off")
    assert perform(driver, s, "query") is PowerState.OFF
    assert perform(driver, s, "on") is PowerState.ON
    system = _system(emulator)
    assert system["PowerState"] == "On"
    # The emulator stores the target; it reports BootSourceOverrideEnabled from a fixed
    # template ("Continuous"), so whether the override was one-time cannot be read back.
    assert system["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    assert perform(driver, s, "off") is PowerState.OFF
    assert _system(emulator)["PowerState"] == "Off"


def test_persistent_disk_boot(emulator):
    driver = RedfishDriver()
    s = parse_settings("redfish", {"power_address": emulator})
    driver.set_boot_device(s, "disk", one_time=False)
    assert _system(emulator)["Boot"]["BootSourceOverrideTarget"] == "Hdd"
    driver.set_boot_device(s, "pxe")
    assert _system(emulator)["Boot"]["BootSourceOverrideTarget"] == "Pxe"


def test_a_cycle_pxe_boots_a_server_that_boots_its_disk(emulator):
    driver = RedfishDriver()
    s = parse_settings("redfish", {"power_address": emulator})
    driver.set_boot_device(s, "disk", one_time=False)
    assert perform(driver, s, "cycle") is PowerState.ON
    assert _system(emulator)["Boot"]["BootSourceOverrideTarget"] == "Pxe"


def test_unreachable_service_is_retryable():
    s = parse_settings("redfish", {"power_address": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(PowerRetryableError, match="Cannot reach"):
        # sushy itself retries a refused connection (3 tries, 3 s apart) within one attempt.
        perform(RedfishDriver(), s, "query", RetryPolicy(attempts=1))
