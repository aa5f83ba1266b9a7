"""Power control: one driver interface, the drivers, retries, jobs and the poller."""

from .base import DriverSettings, PowerDriver
from .errors import PowerError, PowerFatalError, PowerRetryableError
from .registry import DRIVERS, describe_power_types, driver_class, parse_settings
from .runner import RetryPolicy, perform

__all__ = [
    "DRIVERS",
    "DriverSettings",
    "PowerDriver",
    "PowerError",
    "PowerFatalError",
    "PowerRetryableError",
    "RetryPolicy",
    "describe_power_types",
    "driver_class",
    "parse_settings",
    "perform",
]
