"""Serving the region with gunicorn from inside the `baremetal` command."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


class RegionApplication(BaseApplication):
    """gunicorn with the app built in each worker (after fork), never shared across forks."""

    def __init__(self, database_url: str, options: dict[str, object]) -> None:
        self.database_url = database_url
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        from baremetal.region import create_app
        from baremetal.store import Store

        return create_app(Store(self.database_url))


def run_gunicorn(database_url: str, *, host: str, port: int, workers: int, threads: int) -> None:
    RegionApplication(database_url, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "timeout": 120,
    }).run()
