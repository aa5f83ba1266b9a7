"""Manual power: someone presses the button; the request is recorded, the state unknown."""

from __future__ import annotations

from baremetal.models import PowerState

from .base import DriverSettings, PowerDriver


class ManualSettings(DriverSettings):
    pass


class ManualDriver(PowerDriver):
    name = "manual"
    description = "Manual (an operator powers the machine)"
    settings = ManualSettings
    queryable = False

    def power_on(self, settings: ManualSettings) -> None:
        """Nothing to send: the job's event asks an operator to do it."""

    def power_off(self, settings: ManualSettings) -> None:
        """Nothing to send: the job's event asks an operator to do it."""

    def power_query(self, settings: ManualSettings) -> PowerState:
        return PowerState.UNKNOWN
