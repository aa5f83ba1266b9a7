"""Refreshing many machines' power states at once, with a bound on concurrent sessions.

Each query gets one attempt: a dead or slow BMC costs one timeout in its own slot and
never holds up the others; its state is recorded as `error` with the reason. BMCs that
failed last time are asked first, so their likely timeouts run alongside the rest of the
poll instead of trailing after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pydantic import ValidationError

from baremetal.models import PowerState

from .errors import PowerError
from .registry import driver_class, parse_settings, validation_messages
from .runner import RetryPolicy, perform

SINGLE_ATTEMPT = RetryPolicy(attempts=1)


def query_one(power_type: str, parameters: dict) -> tuple[PowerState, str | None]:
    try:
        settings = parse_settings(power_type, parameters)
        return perform(driver_class(power_type)(), settings, "query", SINGLE_ATTEMPT), None
    except ValidationError as error:
        return PowerState.ERROR, f"Bad power parameters: {validation_messages(error)}"
    except PowerError as error:
        return PowerState.ERROR, str(error)


def poll_many(targets: Sequence, concurrency: int) -> list[tuple[int, PowerState, str | None]]:
    """Query every target (anything with machine_id, power_type, power_parameters)."""

    def one(target):  # type: ignore[no-untyped-def]
        state, error = query_one(target.power_type, target.power_parameters)
        return target.machine_id, state, error

    ordered = sorted(targets, key=lambda t: not getattr(t, "failed_last_time", False))
    with ThreadPoolExecutor(max_workers=max(1, concurrency),
                            thread_name_prefix="power-poll") as pool:
        return list(pool.map(one, ordered))
