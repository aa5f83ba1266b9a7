"""Opening a database by URL: SQLite (embedded default, WAL) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000


def utcnow() -> datetime:
    """Naive UTC: both databases store and compare it the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


def default_database_url(data_dir: str | os.PathLike[str]) -> str:
    path = Path(data_dir) / "baremetal.db"
    return f"sqlite:///{path}"


def default_images_dir(url: str) -> Path:
    """Where the region keeps image files: $BAREMETAL_IMAGES_DIR, else beside an SQLite
    database, else the data directory (every process of a region finds the same place)."""
    configured = os.environ.get("BAREMETAL_IMAGES_DIR")
    if configured:
        return Path(configured)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).parent / "images"
    data = os.environ.get("BAREMETAL_DATA_DIR")
    return (Path(data) if data else Path.home() / ".local" / "share" / "baremetal") / "images"


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Store:
    """One database. ``read()`` and ``write()`` give transactions.

    On SQLite a write transaction starts with BEGIN IMMEDIATE, which takes the database's
    write lock up front: concurrent writers (threads or processes) queue on busy_timeout
    instead of failing half way. On PostgreSQL writers rely on row locks.
    """

    def __init__(self, url: str, images_dir: str | os.PathLike[str] | None = None,
                 **engine_options: object) -> None:
        self.url = normalise_url(url)
        self.engine: Engine = _create_engine(self.url, **engine_options)
        self.images_dir = Path(images_dir) if images_dir else default_images_dir(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(baremetal_write=True)
            with conn.begin():
                yield conn

    def migrate(self, revision: str = "head") -> None:
        from .migrate import upgrade

        upgrade(self, revision)

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str, **options: object) -> Engine:
    # JSON columns are decoded once per row: orjson does it several times faster.
    options.setdefault("json_deserializer", orjson.loads)
    options.setdefault("json_serializer", _json_dumps)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        options.setdefault("pool_pre_ping", True)
        return create_engine(url, **options)

    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("baremetal_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()
