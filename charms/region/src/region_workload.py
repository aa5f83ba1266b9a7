"""The region's workload on the machine, for the charm: the systemd unit and its
environment file (rendered by baremetal.operator), migrations, and systemctl. Knows
nothing of ops or Juju."""

from __future__ import annotations

import sys

from baremetal.operator import REGION_UNIT, RegionService, ServiceWorkload, Tasks


class RegionWorkload(ServiceWorkload):
    unit_name = REGION_UNIT
    env_name = "region.env"
    data_name = "baremetal"

    def database_url(self, postgresql: str | None) -> str:
        return postgresql or f"sqlite:///{self.data_dir / 'baremetal.db'}"

    def service(self, postgresql: str | None, port: int, workers: int) -> RegionService:
        return RegionService(data_dir=self.data_dir, database_url=self.database_url(postgresql),
                             port=port, workers=workers, python=sys.executable,
                             pythonpath=self.pythonpath, environment_file=self.env_path)

    def tasks(self, postgresql: str | None) -> Tasks:
        return Tasks(self.database_url(postgresql))
