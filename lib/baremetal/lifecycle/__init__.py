"""The machine lifecycle: MAAS's transition table, deadlines and the expiry rule.

Everything here is pure. The store calls :func:`check_transition` on every status write
and :func:`expired` from the deadline monitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from baremetal.models import NodeStatus as S


class InvalidTransition(Exception):
    """A status change the table forbids; the API answers 409 with this message."""

    def __init__(self, current: S | None, wanted: S) -> None:
        self.current = current
        self.wanted = wanted
        origin = "nothing" if current is None else f"'{current.label}'"
        super().__init__(
            f"Invalid transition: can't go from {origin} to '{wanted.label}'."
        )


# Testing ends by returning the machine to where it came from, or to Ready.
_AFTER_TESTING = {
    S.COMMISSIONING, S.FAILED_DEPLOYMENT, S.MISSING, S.RETIRED, S.BROKEN,
    S.FAILED_RELEASING, S.FAILED_DISK_ERASING, S.FAILED_ENTERING_RESCUE_MODE,
    S.FAILED_EXITING_RESCUE_MODE, S.FAILED_TESTING,
}

# MAAS's NODE_TRANSITIONS: from each status, where a machine may go. None is "not yet created".
TRANSITIONS: dict[S | None, frozenset[S]] = {
    None: frozenset({S.NEW, S.MISSING, S.RETIRED}),
    S.NEW: frozenset({
        S.COMMISSIONING, S.MISSING, S.READY, S.RETIRED, S.BROKEN, S.ENTERING_RESCUE_MODE}),
    S.COMMISSIONING: frozenset({
        S.FAILED_COMMISSIONING, S.READY, S.RETIRED, S.MISSING, S.NEW, S.BROKEN, S.TESTING}),
    S.FAILED_COMMISSIONING: frozenset({
        S.COMMISSIONING, S.MISSING, S.RETIRED, S.BROKEN, S.ENTERING_RESCUE_MODE, S.TESTING}),
    S.READY: frozenset({
        S.ENTERING_RESCUE_MODE, S.COMMISSIONING, S.ALLOCATED, S.RESERVED, S.RETIRED,
        S.MISSING, S.BROKEN, S.TESTING}),
    S.RESERVED: frozenset({
        S.READY, S.ALLOCATED, S.RETIRED, S.MISSING, S.BROKEN, S.DISK_ERASING, S.RELEASING,
        S.ENTERING_RESCUE_MODE, S.TESTING}),
    S.ALLOCATED: frozenset({
        S.READY, S.RETIRED, S.MISSING, S.BROKEN, S.DEPLOYING, S.DISK_ERASING, S.RELEASING,
        S.ENTERING_RESCUE_MODE, S.TESTING}),
    S.RELEASING: frozenset({
        S.ALLOCATED, S.RESERVED, S.DEPLOYED, S.READY, S.BROKEN, S.MISSING,
        S.FAILED_DEPLOYMENT, S.FAILED_DISK_ERASING, S.FAILED_RELEASING}),
    S.DEPLOYING: frozenset({
        S.ALLOCATED, S.MISSING, S.BROKEN, S.FAILED_DEPLOYMENT, S.DEPLOYED, S.READY,
        S.DISK_ERASING, S.RELEASING}),
    S.FAILED_DEPLOYMENT: frozenset({
        S.ALLOCATED, S.MISSING, S.BROKEN, S.READY, S.DISK_ERASING, S.RELEASING,
        S.ENTERING_RESCUE_MODE, S.TESTING}),
    S.DEPLOYED: frozenset({
        S.ALLOCATED, S.MISSING, S.BROKEN, S.READY, S.DISK_ERASING, S.RELEASING,
        S.ENTERING_RESCUE_MODE, S.TESTING}),
    S.MISSING: frozenset({
        S.NEW, S.READY, S.ALLOCATED, S.COMMISSIONING, S.BROKEN, S.ENTERING_RESCUE_MODE,
        S.TESTING}),
    S.RETIRED: frozenset({
        S.NEW, S.READY, S.MISSING, S.BROKEN, S.ENTERING_RESCUE_MODE, S.TESTING}),
    S.BROKEN: frozenset({
        S.COMMISSIONING, S.READY, S.DISK_ERASING, S.RELEASING, S.ENTERING_RESCUE_MODE,
        S.TESTING}),
    S.FAILED_RELEASING: frozenset({
        S.RELEASING, S.DISK_ERASING, S.READY, S.BROKEN, S.TESTING}),
    S.DISK_ERASING: frozenset({
        S.BROKEN, S.DISK_ERASING, S.FAILED_DISK_ERASING, S.READY, S.RELEASING}),
    S.FAILED_DISK_ERASING: frozenset({
        S.DISK_ERASING, S.RELEASING, S.BROKEN, S.ALLOCATED, S.READY, S.ENTERING_RESCUE_MODE,
        S.TESTING}),
    S.ENTERING_RESCUE_MODE: frozenset({
        S.READY, S.BROKEN, S.DEPLOYED, S.RESCUE_MODE, S.FAILED_ENTERING_RESCUE_MODE,
        S.EXITING_RESCUE_MODE}),
    S.FAILED_ENTERING_RESCUE_MODE: frozenset({
        S.BROKEN, S.ENTERING_RESCUE_MODE, S.EXITING_RESCUE_MODE, S.TESTING}),
    S.RESCUE_MODE: frozenset({S.BROKEN, S.EXITING_RESCUE_MODE, S.TESTING}),
    S.EXITING_RESCUE_MODE: frozenset({
        S.NEW, S.BROKEN, S.FAILED_COMMISSIONING, S.READY, S.RESERVED, S.ALLOCATED,
        S.FAILED_DEPLOYMENT, S.DEPLOYED, S.MISSING, S.RETIRED, S.FAILED_RELEASING,
        S.FAILED_DISK_ERASING, S.RESCUE_MODE, S.FAILED_ENTERING_RESCUE_MODE,
        S.FAILED_EXITING_RESCUE_MODE, S.FAILED_TESTING}),
    S.FAILED_EXITING_RESCUE_MODE: frozenset({S.BROKEN, S.EXITING_RESCUE_MODE, S.TESTING}),
    S.TESTING: frozenset({
        S.BROKEN, S.NEW, S.READY, S.RESERVED, S.ALLOCATED, S.DEPLOYED} | _AFTER_TESTING),
    S.FAILED_TESTING: frozenset({
        S.COMMISSIONING, S.BROKEN, S.MISSING, S.ENTERING_RESCUE_MODE, S.TESTING, S.READY,
        S.DEPLOYED}),
}

# Each in-progress status, the status it fails to, and how long it may last.
FAILURE_STATUS: dict[S, S] = {
    S.COMMISSIONING: S.FAILED_COMMISSIONING,
    S.TESTING: S.FAILED_TESTING,
    S.DEPLOYING: S.FAILED_DEPLOYMENT,
    S.RELEASING: S.FAILED_RELEASING,
    S.DISK_ERASING: S.FAILED_DISK_ERASING,
    S.ENTERING_RESCUE_MODE: S.FAILED_ENTERING_RESCUE_MODE,
    S.EXITING_RESCUE_MODE: S.FAILED_EXITING_RESCUE_MODE,
}

DEFAULT_TIMEOUTS: dict[S, timedelta] = {
    S.COMMISSIONING: timedelta(minutes=20),
    S.TESTING: timedelta(minutes=20),
    S.DEPLOYING: timedelta(minutes=40),
    S.RELEASING: timedelta(minutes=5),
    S.DISK_ERASING: timedelta(minutes=60),
    S.ENTERING_RESCUE_MODE: timedelta(minutes=20),
    S.EXITING_RESCUE_MODE: timedelta(minutes=5),
}


def is_allowed(current: S | None, wanted: S) -> bool:
    return wanted in TRANSITIONS.get(current, frozenset())


def check_transition(current: S | None, wanted: S) -> None:
    """Raise :class:`InvalidTransition` unless the table allows current -> wanted."""
    if not is_allowed(current, wanted):
        raise InvalidTransition(current, wanted)


def deadline_for(
    status: S, now: datetime, timeouts: dict[S, timedelta] | None = None
) -> datetime | None:
    """When a machine entering ``status`` at ``now`` must have left it, or None if never."""
    timeout = (timeouts or DEFAULT_TIMEOUTS).get(status)
    return None if timeout is None else now + timeout


@dataclass(frozen=True)
class Expiry:
    """A machine whose in-progress step ran past its deadline, and what it becomes."""

    system_id: str
    current: S
    failed: S
    message: str


def expiry_for(
    system_id: str, status: S, deadline: datetime | None, now: datetime,
    last_report: str | None = None,
) -> Expiry | None:
    """The failure to record if ``status`` is in progress and its deadline has passed;
    the message says where the machine was (its last report)."""
    failed = FAILURE_STATUS.get(status)
    if failed is None or deadline is None or deadline > now:
        return None
    overdue = int((now - deadline).total_seconds())
    message = (
        f"{status.label} timed out: the machine did not report completion before its "
        f"deadline ({deadline:%Y-%m-%d %H:%M:%S} UTC, {overdue}s ago)."
    )
    if last_report:
        message += f" Last report: {last_report}."
    return Expiry(system_id, status, failed, message)
