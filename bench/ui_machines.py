"""The web UI's machines page with a large pool: the first page (sorted by hostname), one
filtered page (status + zone + free text, sorted by memory), and the dashboard. Reports
the server time (median of several requests through the Flask app, session logged in) and
the number of SQL queries per request, at 100 and at 10,000 machines: the target is
under 300 ms and the same number of queries whatever the pool size.

    python bench/ui_machines.py [--machines 10000] [--repeat 7] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, update  # noqa: E402

from baremetal.region import create_app  # noqa: E402
from baremetal.store import Store  # noqa: E402
from baremetal.store import schema as t  # noqa: E402
from bench.allocate import populate  # noqa: E402

PAGES = {"machines page": "/MAAS/machines",
         "filtered page": "/MAAS/machines?status=Ready&zone=z1&q=machine-&sort=memory&dir=desc",
         "dashboard": "/MAAS/"}


def measure(url: str, count: int, repeat: int) -> dict[str, tuple[float, int]]:
    store = Store(url)
    user = populate(store, count, random.Random(7))
    with store.write() as conn:
        conn.execute(update(t.users).where(t.users.c.id == user.id).values(
            is_superuser=True, password_hash=__import__(
                "baremetal.store.references", fromlist=["hash_password"]).hash_password(
                    "bench-password")))
        username = conn.execute(t.users.select().where(t.users.c.id == user.id)).first()\
            .username
    client = create_app(store).test_client()
    page = client.get("/MAAS/accounts/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = client.post("/MAAS/accounts/login", data={
        "username": username, "password": "bench-password", "csrf_token": token})
    assert done.status_code == 302, done.text
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    results = {}
    for name, path in PAGES.items():
        client.get(path)  # warm
        times = []
        for _ in range(repeat):
            statements.clear()
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text[:500]
        queries = len([s for s in statements if s.strip().upper() not in ("BEGIN", "COMMIT")])
        results[name] = (statistics.median(times) * 1000, queries)
    store.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=None,
                        help="an empty database (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        small = measure(args.database_url or f"sqlite:///{scratch}/small.db", 100, args.repeat)
        if args.database_url:
            raise SystemExit("give one empty database per size; run twice")
        large = measure(f"sqlite:///{scratch}/large.db", args.machines, args.repeat)
    print(f"{'page':16} {'100 machines':>22} {f'{args.machines} machines':>22}")
    for name in PAGES:
        (t_small, q_small), (t_large, q_large) = small[name], large[name]
        print(f"{name:16} {t_small:9.1f} ms {q_small:3d} queries {t_large:9.1f} ms "
              f"{q_large:3d} queries")
    print("target: under 300 ms, and the same number of queries at both sizes")


if __name__ == "__main__":
    main()
