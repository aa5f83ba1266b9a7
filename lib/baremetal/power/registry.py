"""The power types this product knows, their settings, and MAAS's describe_power_types."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .base import DriverSettings, PowerDriver, describe_fields
from .ipmi import IpmiDriver
from .manual import ManualDriver
from .redfish import RedfishDriver
from .webhook import WebhookDriver

DRIVERS: dict[str, type[PowerDriver]] = {
    driver.name: driver for driver in (IpmiDriver, RedfishDriver, WebhookDriver, ManualDriver)
}


class UnknownPowerType(ValueError):
    pass


def driver_class(power_type: str) -> type[PowerDriver]:
    try:
        return DRIVERS[power_type]
    except KeyError:
        raise UnknownPowerType(
            f"'{power_type}' is not a power type (use one of: {', '.join(DRIVERS)})."
        ) from None


def parse_settings(power_type: str, parameters: dict[str, Any]) -> DriverSettings:
    """The driver's typed settings; raises pydantic's ValidationError naming the field."""
    return driver_class(power_type).settings.model_validate(parameters)


def validation_messages(error: ValidationError, prefix: str = "power_parameters_") -> str:
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


def describe_power_types() -> list[dict[str, Any]]:
    return [
        {"name": driver.name, "description": driver.description,
         "fields": describe_fields(driver.settings), "queryable": driver.queryable,
         "missing_packages": [], "driver_type": "power", "chassis": False,
         "can_probe": False}
        for driver in DRIVERS.values()
    ]

