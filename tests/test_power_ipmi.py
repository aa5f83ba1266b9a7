"""The ipmi driver against virtual BMCs over UDP, and the virtual BMC against ipmitool."""

from __future__ import annotations

import subprocess
import time

import pytest

from baremetal.models import PowerState
from baremetal.power import PowerFatalError, PowerRetryableError, parse_settings, perform
from baremetal.power.ipmi import IpmiDriver
from baremetal.power.runner import RetryPolicy

from .bmcs import virtual_bmcs
from .live import free_port


@pytest.fixture(scope="module")
def bmc():
    with virtual_bmcs(1, "admin", "Bmc-pass-1") as bmcs:
        yield bmcs[0]


def settings(bmc, user="admin", password="Bmc-pass-1"):  # type: ignore[no-untyped-def]
    return parse_settings("ipmi", {"power_address": f"127.0.0.1:{bmc.port}",
                                   "power_user": user, "power_pass": password})


def ipmitool(port: int, *args: str, user: str = "admin", password: str = "Bmc-pass-1",
             cipher: str | None = None) -> subprocess.CompletedProcess:
    command = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", user,
               "-P", password]
    if cipher is not None:
        command += ["-C", cipher]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=60)


def test_on_off_cycle_query(bmc):
    driver, s = IpmiDriver(), settings(bmc)
    bmc.power, bmc.booted_from[:] = "off", []
    assert perform(driver, s, "query") is PowerState.OFF
    assert perform(driver, s, "on") is PowerState.ON
    assert bmc.power == "on"
    # Power on means "PXE boot now": a one-time network boot, consumed by that boot.
    assert bmc.booted_from == ["network"] and bmc.boot_device == "default"
    assert perform(driver, s, "on") is PowerState.ON  # already on: cycled, PXE again
    assert bmc.booted_from == ["network", "network"]
    # A cycle PXE boots too (an erase cycles a machine that boots its disk first).
    driver.set_boot_device(s, "disk", one_time=False)
    assert perform(driver, s, "cycle") is PowerState.ON
    assert bmc.booted_from == ["network", "network", "network"]
    assert perform(driver, s, "off") is PowerState.OFF
    assert bmc.power == "off"


def test_boot_device(bmc):
    driver, s = IpmiDriver(), settings(bmc)
    driver.set_boot_device(s, "pxe", one_time=True)
    assert (bmc.boot_device, bmc.boot_persistent) == ("network", False)
    driver.set_boot_device(s, "disk", one_time=False)
    assert (bmc.boot_device, bmc.boot_persistent) == ("hd", True)
    bmc.boot_device, bmc.boot_persistent = "default", False


def test_wrong_password_is_fatal_and_says_so(bmc):
    started = time.monotonic()
    with pytest.raises(PowerFatalError) as raised:
        perform(IpmiDriver(), settings(bmc, password="wrong"), "query")
    assert "Incorrect password" in str(raised.value) and "power_pass" in str(raised.value)
    assert "wrong" not in str(raised.value)
    assert time.monotonic() - started < 3  # refused at once, never retried


def test_unknown_user_is_fatal(bmc):
    with pytest.raises(PowerFatalError, match="Unauthorized name"):
        perform(IpmiDriver(), settings(bmc, user="ghost"), "query")


def test_unreachable_port_is_retried_then_a_clear_error():
    dead = parse_settings("ipmi", {"power_address": f"127.0.0.1:{free_port()}",
                                   "power_user": "admin", "power_pass": "x"})
    started = time.monotonic()
    with pytest.raises(PowerRetryableError) as raised:
        perform(IpmiDriver(), dead, "query", RetryPolicy(attempts=2, first_delay=0.1))
    message = str(raised.value)
    assert "No answer from the BMC" in message and "gave up after 2 attempts" in message
    assert time.monotonic() - started > 5  # two timed-out attempts, not one


def test_ipmitool_power_and_boot_device(bmc):
    bmc.power = "off"
    assert ipmitool(bmc.port, "chassis", "power", "status").stdout.strip() == \
        "Chassis Power is off"
    assert ipmitool(bmc.port, "chassis", "power", "on").returncode == 0
    assert bmc.power == "on"
    assert ipmitool(bmc.port, "chassis", "power", "status").stdout.strip() == \
        "Chassis Power is on"
    assert ipmitool(bmc.port, "chassis", "power", "off").returncode == 0
    assert bmc.power == "off"
    assert ipmitool(bmc.port, "chassis", "bootdev", "pxe").returncode == 0
    assert (bmc.boot_device, bmc.boot_persistent) == ("network", False)
    shown = ipmitool(bmc.port, "chassis", "bootparam", "get", "5").stdout
    assert "Force PXE" in shown
    bmc.boot_device = "default"


def test_ipmitool_user_management_and_the_new_user_works(bmc):
    assert ipmitool(bmc.port, "user", "set", "name", "3", "maas").returncode == 0
    assert ipmitool(bmc.port, "user", "set", "password", "3", "Gen3rated-pw").returncode == 0
    assert ipmitool(bmc.port, "channel", "setaccess", "1", "3", "privilege=4").returncode == 0
    assert ipmitool(bmc.port, "user", "enable", "3").returncode == 0
    listing = ipmitool(bmc.port, "user", "list", "1").stdout
    assert any(line.split()[:2] == ["3", "maas"] for line in listing.splitlines())
    status = ipmitool(bmc.port, "chassis", "power", "status", user="maas",
                      password="Gen3rated-pw")
    assert status.returncode == 0, status.stderr
    assert perform(IpmiDriver(), settings(bmc, "maas", "Gen3rated-pw"), "query") in (
        PowerState.ON, PowerState.OFF)
    assert ipmitool(bmc.port, "user", "disable", "3").returncode == 0
    refused = ipmitool(bmc.port, "chassis", "power", "status", user="maas",
                       password="Gen3rated-pw")
    assert refused.returncode != 0


def test_cipher_suites_like_a_real_bmc(bmc):
    """Suite 3 (SHA-1) is served; 17 (SHA-256) is refused cleanly, not half-negotiated."""
    assert ipmitool(bmc.port, "chassis", "power", "status", cipher="3").returncode == 0
    refused = ipmitool(bmc.port, "chassis", "power", "status", cipher="17")
    assert refused.returncode != 0
    # pyghmi proposes 17 first and falls back: the driver works (see the tests above) and
    # the BMC still answers afterwards.
    assert ipmitool(bmc.port, "chassis", "power", "status").returncode == 0
