"""The boot decision: one function, every status."""

import pytest

from baremetal.boot import BootTarget, Purpose, decide, render_grub, render_ipxe, render_pxelinux
from baremetal.models import NodeStatus as S

URLS = {"http_base": "http://10.0.0.2:5248", "metadata_url": "http://10.0.0.1:5240/MAAS/metadata/"}


@pytest.mark.parametrize(("status", "purpose"), [
    (None, Purpose.ENLIST),
    (S.COMMISSIONING, Purpose.COMMISSION),
    (S.TESTING, Purpose.TEST),
    (S.DEPLOYING, Purpose.DEPLOY),
    (S.DEPLOYED, Purpose.DEPLOY),  # ephemeral: the image is the system
    (S.DISK_ERASING, Purpose.ERASE),
    (S.ENTERING_RESCUE_MODE, Purpose.RESCUE),
    (S.RESCUE_MODE, Purpose.RESCUE),
    (S.READY, Purpose.POWEROFF),
    (S.NEW, Purpose.POWEROFF),
    (S.ALLOCATED, Purpose.POWEROFF),
    (S.BROKEN, Purpose.POWEROFF),
])
def test_purpose_by_status(status, purpose):
    decision = decide(BootTarget(mac="52:54:00:00:00:01", status=status, token="t"), **URLS)
    assert decision.purpose is purpose
    assert decision.kernel == "http://10.0.0.2:5248/images/amd64/ephemeral/vmlinuz"
    assert f"baremetal.purpose={purpose}" in decision.cmdline
    assert "BOOTIF=01-52-54-00-00-00-01" in decision.cmdline
    assert "baremetal.url=http://10.0.0.1:5240/MAAS/metadata/" in decision.cmdline


def test_disk_deployments_and_non_netbooting_machines_boot_locally():
    for target in (BootTarget(mac="m", status=S.DEPLOYED, install_to_disk=True),
                   BootTarget(mac="m", status=S.READY, netboot=False)):
        decision = decide(target, **URLS)
        assert decision.purpose is Purpose.LOCAL and decision.kernel is None
        assert "exit" in render_ipxe(decision) and "LOCALBOOT 0" in render_pxelinux(decision)
        assert "exit" in render_grub(decision)


def test_tokens_machine_or_enlistment_never_mixed():
    known = decide(BootTarget(mac="m", status=S.COMMISSIONING, token="mine"), **URLS,
                   enlistment_token="enlist")
    assert "baremetal.token=mine" in known.cmdline and "enlist" not in known.cmdline
    unknown = decide(BootTarget(mac="m"), **URLS, enlistment_token="enlist")
    assert "baremetal.token=enlist" in unknown.cmdline


def test_arm64_gets_its_image_and_grub_its_http_paths():
    decision = decide(BootTarget(mac="m", status=S.COMMISSIONING, architecture="arm64/generic"),
                      **URLS)
    assert decision.kernel == "http://10.0.0.2:5248/images/arm64/ephemeral/vmlinuz"
    assert "linux (http,10.0.0.2:5248)/images/arm64/ephemeral/vmlinuz" in render_grub(decision)
