"""Empty databases for benchmarks, of each kind: SQLite in a temporary directory, and
PostgreSQL on BAREMETAL_BENCH_DATABASE_URL (a server; a scratch database is made on it and
dropped after) or, without it, on a throwaway server like the test suite's."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from tests.pg import DatabaseFactory, ThrowawayPostgres


@contextmanager
def scratch_databases(kinds: list[str]) -> Iterator[Callable[[str], AbstractContextManager[str]]]:
    """`with scratch_databases(kinds) as database:` then `with database(kind) as url:`."""
    server = factory = None
    if "postgresql" in kinds:
        url = os.environ.get("BAREMETAL_BENCH_DATABASE_URL")
        if not url:
            server = ThrowawayPostgres()
            url = server.start()
        factory = DatabaseFactory(url)

    @contextmanager
    def database(kind: str) -> Iterator[str]:
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as scratch:
                yield f"sqlite:///{scratch}/bench.db"
            return
        assert factory is not None
        made = factory.create()
        try:
            yield made
        finally:
            factory.drop(made)

    try:
        yield database
    finally:
        if factory is not None:
            factory.close()
        if server is not None:
            server.stop()
