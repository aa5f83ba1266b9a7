"""The lifecycle monitor: fails machines whose in-progress step ran past its deadline
(`fail_expired`), every few seconds, in each region process. Safe to run in several
processes at once: each failure is a conditional status write."""

from __future__ import annotations

import logging
import threading

from baremetal.lifecycle import InvalidTransition
from baremetal.store import Store
from baremetal.store.machines import ConcurrentChange, fail_expired

log = logging.getLogger(__name__)


class LifecycleMonitor(threading.Thread):
    def __init__(self, store: Store, interval: float = 10.0) -> None:
        super().__init__(name="lifecycle-monitor", daemon=True)
        self.store = store
        self.interval = interval
        self.stop = threading.Event()

    def check(self) -> int:
        try:
            with self.store.write() as conn:
                expired = fail_expired(conn)
        except (ConcurrentChange, InvalidTransition):
            return 0  # another region process got there first; next round
        for expiry in expired:
            log.warning("%s: %s", expiry.system_id, expiry.message)
        return len(expired)

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.check()
            except Exception:
                log.exception("lifecycle monitor: check failed; next round")
