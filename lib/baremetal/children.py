"""Child processes that must not outlive their parent (dnsmasq under the rack, the rack and
the simulated machines under `baremetal up`), however the parent goes."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `preexec_fn`: the kernel sends SIGTERM to the child when its parent dies."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
