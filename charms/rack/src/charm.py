#!/usr/bin/env python3
"""The baremetal rack charm: observes events and hands the work to the workload module
and the `baremetal` package. Status is computed in one collect-status handler."""

from __future__ import annotations

import logging
from pathlib import Path

import ops
from pydantic import BaseModel, ValidationError
from rack_workload import RackWorkload

log = logging.getLogger(__name__)
REGION = "region"


class RegionData(BaseModel):
    """What the region publishes on the baremetal_rack relation."""

    api_url: str
    secret_id: str


class RackCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.workload = RackWorkload(Path(self.charm_dir))
        observe = framework.observe
        observe(self.on.install, self._on_install)
        for event in (self.on.config_changed, self.on.upgrade_charm, self.on.secret_changed,
                      self.on[REGION].relation_joined, self.on[REGION].relation_changed):
            observe(event, self._reconcile)
        observe(self.on[REGION].relation_broken, self._on_region_gone)
        observe(self.on.collect_unit_status, self._collect_status)

    def _region(self) -> tuple[str, str] | None:
        """(API URL, shared secret) from the region, once it has published them."""
        relation = self.model.get_relation(REGION)
        if relation is None or relation.app is None:
            return None
        raw = {k.replace("-", "_"): v for k, v in relation.data[relation.app].items()}
        try:
            data = RegionData.model_validate(raw)
            secret = self.model.get_secret(id=data.secret_id).get_content(refresh=True)
        except (ValidationError, ops.SecretNotFoundError, ops.ModelError):
            return None
        if not secret.get("secret"):
            return None
        return data.api_url.removesuffix("/").removesuffix("/MAAS"), secret["secret"]

    def _on_install(self, event: ops.InstallEvent) -> None:
        self.unit.status = ops.MaintenanceStatus("installing dnsmasq and bootloaders")
        self.workload.install()
        self._reconcile(event)

    def _reconcile(self, event: ops.EventBase) -> None:
        relation = self.model.get_relation(REGION)
        if relation is not None:
            binding = self.model.get_binding(relation)
            address = binding.network.ingress_address if binding else None
            relation.data[self.unit]["address"] = str(address or "")
        region = self._region()
        if region is None:
            return
        url, secret = region
        service = self.workload.service(
            url, secret, self.unit.name.replace("/", "-"),
            interface=str(self.config["interface"]), dhcp=bool(self.config["dhcp"]),
            tftp_port=int(self.config["tftp-port"]), http_port=int(self.config["http-port"]))
        if self.workload.write(service):
            self.workload.restart()

    def _on_region_gone(self, event: ops.RelationBrokenEvent) -> None:
        self.workload.stop()

    def _collect_status(self, event: ops.CollectStatusEvent) -> None:
        relation = self.model.get_relation(REGION)
        if relation is None:
            event.add_status(ops.BlockedStatus("needs a region relation (juju integrate "
                                               "baremetal-rack baremetal-region)"))
        elif self._region() is None:
            event.add_status(ops.WaitingStatus("waiting for the region's URL and secret"))
        else:
            interface = self.config["interface"] or "all interfaces"
            event.add_status(ops.ActiveStatus(f"serving boot on {interface}"))


if __name__ == "__main__":  # pragma: no cover
    ops.main(RackCharm)
