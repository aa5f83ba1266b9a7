"""The power worker: claims power jobs, runs them with the drivers, reports the results,
and polls power states. A rack runs one for the BMCs it reaches; `baremetal up` runs one
in-process. Both talk to the region through a `JobSource`."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Protocol

from pydantic import ValidationError

from baremetal.models import PowerState

from .errors import PowerError
from .poller import poll_many
from .registry import DRIVERS, driver_class, parse_settings, validation_messages
from .runner import DEFAULT_POLICY, RetryPolicy, perform

log = logging.getLogger(__name__)


class JobSource(Protocol):
    """Where jobs come from and results go: the store directly, or the region over HTTP."""

    def claim(self, limit: int) -> list: ...

    def renew(self, job_ids: list[int]) -> None: ...

    def finish(self, job_id: int, state: PowerState | None, error: str | None) -> bool: ...

    def poll_targets(self, limit: int) -> list: ...

    def record_states(self, results: list[tuple[int, PowerState, str | None]]) -> None: ...


class StoreJobSource:
    """The in-process source: the worker shares the region's database."""

    def __init__(self, store, worker: str, lease: timedelta = timedelta(seconds=30)) -> None:  # type: ignore[no-untyped-def]
        from baremetal.store import power as jobs

        self.jobs = jobs
        self.store = store
        self.worker = worker
        self.lease = lease

    def claim(self, limit: int) -> list:
        return self.jobs.claim_power_jobs(self.store, self.worker, limit, self.lease)

    def renew(self, job_ids: list[int]) -> None:
        self.jobs.renew_leases(self.store, self.worker, job_ids, self.lease)

    def finish(self, job_id: int, state: PowerState | None, error: str | None) -> bool:
        return self.jobs.finish_power_job(self.store, job_id, self.worker, state=state,
                                          error=error)

    def poll_targets(self, limit: int) -> list:
        queryable = tuple(name for name, cls in DRIVERS.items() if cls.queryable)
        return self.jobs.machines_to_poll(self.store, queryable, limit)

    def record_states(self, results: list[tuple[int, PowerState, str | None]]) -> None:
        self.jobs.record_power_states(self.store, results)


def run_job(job, policy: RetryPolicy = DEFAULT_POLICY) -> tuple[PowerState | None, str | None]:  # type: ignore[no-untyped-def]
    try:
        settings = parse_settings(job.power_type, job.power_parameters)
    except ValidationError as error:
        return None, f"Bad power parameters: {validation_messages(error)}"
    except ValueError as error:  # unknown power type
        return None, str(error)
    try:
        return perform(driver_class(job.power_type)(), settings, job.action, policy), None
    except PowerError as error:
        return None, str(error)


class PowerWorker:
    """Runs at most `concurrency` jobs at once; polls every `poll_interval` seconds."""

    def __init__(self, source: JobSource, *, concurrency: int = 16,
                 poll_interval: float | None = 60.0, poll_batch: int = 1000,
                 poll_concurrency: int = 64, idle_sleep: float = 0.2,
                 policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self.source = source
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.poll_batch = poll_batch
        self.poll_concurrency = poll_concurrency
        self.idle_sleep = idle_sleep
        self.policy = policy
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="power-job")
        self.running: dict[int, Future] = {}
        self.stop = threading.Event()
        lease = getattr(source, "lease", timedelta(seconds=30))
        self.renew_interval = lease.total_seconds() / 3
        self._last_poll = 0.0
        self._last_renew = time.monotonic()

    def run_once(self) -> int:
        """Claim what fits in the free slots and start it; returns how many started."""
        self.running = {job_id: f for job_id, f in self.running.items() if not f.done()}
        # Leases are renewed three times per lease: a long action never lets its lease
        # lapse, so no other worker (nor this one) claims it meanwhile.
        if self.running and time.monotonic() - self._last_renew > self.renew_interval:
            self.source.renew(list(self.running))
            self._last_renew = time.monotonic()
        free = self.concurrency - len(self.running)
        if free <= 0:
            return 0
        jobs = self.source.claim(free)
        for job in jobs:
            try:
                self.running[job.id] = self.pool.submit(self._execute, job)
            except RuntimeError:
                # The interpreter is exiting: stop; the job's lease lapses and another
                # worker (or this one, restarted) claims it again.
                self.stop.set()
                break
        return len(jobs)

    def _execute(self, job) -> None:  # type: ignore[no-untyped-def]
        state, error = run_job(job, self.policy)
        if not self.source.finish(job.id, state, error):
            log.warning("power job %s for %s was taken over by another worker",
                        job.id, job.system_id)

    def poll_once(self) -> list[tuple[int, PowerState, str | None]]:
        targets = self.source.poll_targets(self.poll_batch)
        results = poll_many(targets, self.poll_concurrency)
        self.source.record_states(results)
        return results

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                started = self.run_once()
                now = time.monotonic()
                if self.poll_interval is not None and now - self._last_poll >= self.poll_interval:
                    self._last_poll = now
                    self.poll_once()
            except Exception:  # the region may be restarting: keep going
                log.exception("power worker iteration failed")
                started = 0
            if not started:
                self.stop.wait(self.idle_sleep)
        self.pool.shutdown(wait=True)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="power-worker", daemon=True)
        thread.start()
        return thread
