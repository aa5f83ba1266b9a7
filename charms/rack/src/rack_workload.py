"""The rack's workload on the machine, for the charm: Debian packages (with charmhelpers'
apt helpers), the systemd unit and its environment (rendered by baremetal.operator), and
systemctl. Knows nothing of ops or Juju."""

from __future__ import annotations

import json
import subprocess
import sys

from baremetal.operator import RACK_UNIT, RackService, ServiceWorkload

PACKAGES = ["dnsmasq-base", "ipxe", "pxelinux", "syslinux-common", "ipmitool",
            "busybox-static", "iproute2"]


class RackWorkload(ServiceWorkload):
    unit_name = RACK_UNIT
    env_name = "rack.env"
    data_name = "baremetal-rack"

    def install(self) -> None:
        from charmhelpers.fetch import apt_install, apt_update

        apt_update(fatal=True)
        apt_install(PACKAGES, fatal=True)

    def address_of(self, interface: str) -> str | None:
        """The first IPv4 address of `interface` (None if it has none)."""
        done = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", interface],
                              capture_output=True, text=True, timeout=30)
        for link in json.loads(done.stdout or "[]"):
            for address in link.get("addr_info", []):
                return address.get("local")
        return None

    def service(self, region_url: str, secret: str, name: str, *, interface: str, dhcp: bool,
                tftp_port: int, http_port: int) -> RackService:
        address = self.address_of(interface) if interface else None
        return RackService(region_url=region_url, secret=secret, name=name,
                           data_dir=self.data_dir, tftp_port=tftp_port, http_port=http_port,
                           dhcp=dhcp, listen=address or "0.0.0.0", advertise=address,
                           python=sys.executable, pythonpath=self.pythonpath,
                           environment_file=self.env_path)
