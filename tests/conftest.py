from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from baremetal.models import NodeStatus, User
from baremetal.store import Store
from baremetal.store import schema as t
from baremetal.store.machines import NewMachine, create_machines, transition_machines
from baremetal.store.references import create_user, ensure_defaults

from .pg import ENV, DatabaseFactory, ThrowawayPostgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DatabaseFactory]:
    server = None
    url = os.environ.get(ENV)
    if not url:
        server = ThrowawayPostgres()
        url = server.start()
    factory = DatabaseFactory(url)
    try:
        yield factory
    finally:
        factory.close()
        if server is not None:
            server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """An empty database of each kind: the whole store suite runs on both."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'baremetal.db'}"
        return
    factory: DatabaseFactory = request.getfixturevalue("postgres_server")
    url = factory.create()
    try:
        yield url
    finally:
        factory.drop(url)


def migrated_store(url: str) -> Store:
    """A store at the latest schema with the default zone, pool, domain and fabric."""
    store = Store(url)
    store.migrate()
    with store.write() as conn:
        ensure_defaults(conn)
    return store


@pytest.fixture
def store(database_url) -> Iterator[Store]:
    store = migrated_store(database_url)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture
def admin(store) -> User:
    with store.write() as conn:
        return create_user(conn, "admin", "secret-pw", "admin@example.com", is_superuser=True)


def add_ready(store: Store, specs: list[NewMachine]) -> list[str]:
    """Machines enlisted and made Ready through the lifecycle, as commissioning would."""
    with store.write() as conn:
        system_ids = create_machines(conn, specs)
        ids = conn.execute(
            select(t.machines.c.id).where(t.machines.c.system_id.in_(system_ids))
        ).scalars().all()
        transition_machines(conn, ids, NodeStatus.COMMISSIONING)
        transition_machines(conn, ids, NodeStatus.READY)
    return system_ids


@pytest.fixture
def api(tmp_path):
    """An in-process region on SQLite with admin, alice and bob, and four Ready machines."""
    from .api import build_api

    store = migrated_store(f"sqlite:///{tmp_path / 'api.db'}")
    yield build_api(store)
    store.dispose()


# In CI, property tests draw the same examples every run: a red build is reproducible.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")
