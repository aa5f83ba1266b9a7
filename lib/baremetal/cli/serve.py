"""Serving the region with gunicorn from inside the `baremetal` command."""

from __future__ import annotations

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
        if self.power_worker:
            self.cfg.set("post_worker_init", _start_power_worker(self.database_url))

    def load(self):  # type: ignore[no-untyped-def]
        from baremetal.region import create_app
        from baremetal.store import Store

        return create_app(Store(self.database_url))


def _start_power_worker(database_url: str):  # type: ignore[no-untyped-def]
    """All-in-one mode: the power worker runs inside the region's worker process (started
    after the fork, so no lock is inherited mid-use), through the same JobSource a rack
    uses."""

    def start(worker) -> None:  # type: ignore[no-untyped-def]
        import socket

        from baremetal.power.worker import PowerWorker, StoreJobSource
        from baremetal.store import Store

        name = f"{socket.gethostname()}:{worker.pid}"
        PowerWorker(StoreJobSource(Store(database_url), name)).start()

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
