"""Running one power action well: retry what may pass with backoff, never retry what
cannot, and confirm the state the action was meant to reach."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from baremetal.models import PowerState

from .base import PowerDriver
from .errors import PowerError, PowerFatalError, PowerRetryableError

Action = Literal["on", "off", "cycle", "query"]
EXPECTED: dict[str, PowerState] = {"on": PowerState.ON, "off": PowerState.OFF,
                                   "cycle": PowerState.ON}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    first_delay: float = 0.5
    factor: float = 2.0
    confirm_interval: float = 0.5


DEFAULT_POLICY = RetryPolicy()


def with_retries(call: Callable[[], Any], policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> Any:
    delay = policy.first_delay
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except PowerFatalError:
            raise
        except PowerRetryableError as error:
            if attempt == policy.attempts:
                raise PowerRetryableError(f"{error} (gave up after {attempt} attempts)") \
                    from None
            sleep(delay)
            delay *= policy.factor
    raise AssertionError("unreachable")


def perform(driver: PowerDriver, settings: Any, action: Action,
            policy: RetryPolicy = DEFAULT_POLICY,
            sleep: Callable[[float], None] = time.sleep) -> PowerState:
    """Do ``action`` and return the power state found afterwards.

    On and off are confirmed by querying until the machine is in the expected state or the
    driver's settle time passes; a machine that does not get there is an error.
    """
    if action == "query":
        return with_retries(lambda: driver.power_query(settings), policy, sleep)
    verb = {"on": driver.power_on, "off": driver.power_off, "cycle": driver.power_cycle}[action]
    with_retries(lambda: verb(settings), policy, sleep)
    if not driver.queryable:
        return PowerState.UNKNOWN
    expected = EXPECTED[action]
    deadline = time.monotonic() + driver.settle_seconds
    while True:
        state = with_retries(lambda: driver.power_query(settings), policy, sleep)
        if state == expected:
            return state
        if time.monotonic() >= deadline:
            raise PowerError(f"Asked to power {action}, but the machine is still "
                             f"{state.value} after {driver.settle_seconds:.0f}s.")
        sleep(policy.confirm_interval)
