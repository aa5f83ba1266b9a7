"""The region's workload on the machine, for the charm: the systemd unit and its
environment file (rendered by baremetal.operator), migrations, and systemctl. Knows
nothing of ops or Juju."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from baremetal.operator import (
    REGION_UNIT,
    RegionService,
    Tasks,
    write_unit_files,
)


class RegionWorkload:
    def __init__(self, charm_dir: Path, root: Path = Path("/")) -> None:
        self.charm_dir = charm_dir
        self.unit_path = root / "etc/systemd/system" / REGION_UNIT
        self.env_path = root / "etc/baremetal/region.env"
        self.data_dir = root / "var/lib/baremetal"

    def database_url(self, postgresql: str | None) -> str:
        return postgresql or f"sqlite:///{self.data_dir / 'baremetal.db'}"

    def service(self, postgresql: str | None, port: int, workers: int) -> RegionService:
        pythonpath = ":".join(str(self.charm_dir / d) for d in ("venv", "lib")
                              if (self.charm_dir / d).is_dir())
        return RegionService(data_dir=self.data_dir, database_url=self.database_url(postgresql),
                             port=port, workers=workers, python=sys.executable,
                             pythonpath=pythonpath, environment_file=self.env_path)

    def tasks(self, postgresql: str | None) -> Tasks:
        return Tasks(self.database_url(postgresql))

    def write(self, service: RegionService) -> bool:
        """Write the unit and its environment; whether anything changed."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return write_unit_files(self.unit_path, self.env_path, service.unit(),
                                service.environment())

    def restart(self) -> None:
        self.systemctl("daemon-reload")
        self.systemctl("enable", REGION_UNIT)
        self.systemctl("restart", REGION_UNIT)

    def stop(self) -> None:
        self.systemctl("stop", REGION_UNIT)

    def systemctl(self, *args: str) -> None:
        subprocess.run(["systemctl", *args], check=True, capture_output=True, timeout=120)
