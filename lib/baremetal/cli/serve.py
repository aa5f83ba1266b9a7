"""Serving the region with gunicorn from inside the `baremetal` command."""

from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication


class RegionApplication(BaseApplication):
    """gunicorn with the app built in each worker (after fork), never shared across forks."""

    def __init__(self, database_url: str, options: dict[str, object],
                 power_worker: bool = False) -> None:
        self.database_url = database_url
        self.options = options
        self.power_worker = power_worker
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_worker_init", _start_workers(self.database_url, self.power_worker))

    def load(self):  # type: ignore[no-untyped-def]
        from datetime import timedelta

        from baremetal.lifecycle import FAILURE_STATUS
        from baremetal.region import create_app
        from baremetal.store import Store

        config: dict[str, object] = {}
        report = os.environ.get("BAREMETAL_REPORT_TIMEOUT")  # seconds, every in-progress state
        if report:
            config["REPORT_TIMEOUTS"] = {status: timedelta(seconds=float(report))
                                         for status in FAILURE_STATUS}
        return create_app(Store(self.database_url), **config)


def _start_workers(database_url: str, power_worker: bool):  # type: ignore[no-untyped-def]
    """In each region worker process (after the fork, so no lock is inherited mid-use):
    the lifecycle monitor and, all-in-one, the power worker, through the same JobSource a
    rack uses."""

    def start(worker) -> None:  # type: ignore[no-untyped-def]
        import socket

        from baremetal.power.worker import PowerWorker, StoreJobSource
        from baremetal.region.monitor import LifecycleMonitor
        from baremetal.store import Store

        store = Store(database_url)
        LifecycleMonitor(store, float(os.environ.get("BAREMETAL_MONITOR_INTERVAL", "10"))
                         ).start()
        if power_worker:
            name = f"{socket.gethostname()}:{worker.pid}"
            PowerWorker(StoreJobSource(store, name)).start()

    return start


def run_gunicorn(database_url: str, *, host: str, port: int, workers: int, threads: int,
                 power_worker: bool = False) -> None:
    RegionApplication(database_url, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "timeout": 120,
    }, power_worker=power_worker).run()
