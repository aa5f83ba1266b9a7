"""Building large responses: the cyclic garbage collector is paused meanwhile.

Listing 10,000 machines allocates a few hundred thousand objects; each allocation burst
triggers collections that walk the whole growing heap, which was 45% of the request.
Nothing built here forms reference cycles, so reference counting frees it all; the
collector resumes when the last bulk build in the process ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_active = 0  # bulk builds under way in this process
_resume = True  # whether the collector was on when the first of them began


@contextmanager
def gc_paused() -> Iterator[None]:
    global _active, _resume
    with _lock:
        if _active == 0:
            _resume = gc.isenabled()
            gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _resume:
                gc.enable()
