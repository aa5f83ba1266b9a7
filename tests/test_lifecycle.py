from datetime import datetime, timedelta

import pytest

from baremetal import lifecycle
from baremetal.lifecycle import TRANSITIONS, InvalidTransition, check_transition
from baremetal.models import NodeStatus as S

ALL = [None, *S]
ALLOWED = [(a, b) for a in ALL for b in S if b in TRANSITIONS.get(a, ())]
FORBIDDEN = [(a, b) for a in ALL for b in S if b not in TRANSITIONS.get(a, ())]


def test_every_status_has_a_row():
    assert set(TRANSITIONS) == set(ALL)


@pytest.mark.parametrize(("current", "wanted"), ALLOWED)
def test_allowed_transition(current, wanted):
    check_transition(current, wanted)


@pytest.mark.parametrize(("current", "wanted"), FORBIDDEN[::7])
def test_forbidden_transition_sample(current, wanted):
    with pytest.raises(InvalidTransition) as raised:
        check_transition(current, wanted)
    assert wanted.label in str(raised.value)


@pytest.mark.parametrize(("current", "wanted"), [
    (S.NEW, S.ALLOCATED),          # must be commissioned first
    (S.READY, S.DEPLOYED),         # deploy goes through Allocated and Deploying
    (S.READY, S.DEPLOYING),
    (S.DEPLOYED, S.COMMISSIONING),
    (None, S.READY),               # nothing is born Ready
    (S.RETIRED, S.ALLOCATED),
])
def test_forbidden_transitions_that_matter(current, wanted):
    assert not lifecycle.is_allowed(current, wanted)


def test_happy_path_is_allowed():
    path = [None, S.NEW, S.COMMISSIONING, S.TESTING, S.READY, S.ALLOCATED, S.DEPLOYING,
            S.DEPLOYED, S.RELEASING, S.READY]
    for current, wanted in zip(path, path[1:], strict=False):
        check_transition(current, wanted)


def test_labels_are_maas_labels():
    assert S.FAILED_RELEASING.label == "Releasing failed"
    assert S.FAILED_ENTERING_RESCUE_MODE.label == "Failed to enter rescue mode"
    assert S.from_label("failed commissioning") is S.FAILED_COMMISSIONING
    assert [int(s) for s in S] == list(range(23))


@pytest.mark.parametrize("status", list(lifecycle.FAILURE_STATUS))
def test_in_progress_states_have_deadlines_and_may_fail(status):
    now = datetime(2026, 1, 1)
    deadline = lifecycle.deadline_for(status, now)
    assert deadline is not None and deadline > now
    check_transition(status, lifecycle.FAILURE_STATUS[status])


def test_expiry():
    now = datetime(2026, 1, 1, 12)
    deadline = lifecycle.deadline_for(S.COMMISSIONING, now)
    assert lifecycle.expiry_for("abc123", S.COMMISSIONING, deadline, now) is None
    later = deadline + timedelta(seconds=30)
    expiry = lifecycle.expiry_for("abc123", S.COMMISSIONING, deadline, later)
    assert expiry.failed is S.FAILED_COMMISSIONING
    assert expiry.message.startswith("Commissioning timed out")
    assert "30s ago" in expiry.message
    assert lifecycle.expiry_for("abc123", S.READY, deadline, later) is None
    assert lifecycle.deadline_for(S.READY, now) is None
