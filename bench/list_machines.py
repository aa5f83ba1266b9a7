"""GET machines/ with 10,000 machines through gunicorn.

Each machine has 2 interfaces with links and 2 disks (the same pool as bench/allocate.py).
Reports the request time (median of several), the number of SQL queries the request
makes, and the time `json.dumps` takes over the same payload; the target is at most 10
queries and the request within 3x of the bare json.dumps.

    python bench/list_machines.py [--machines 10000] [--repeat 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from baremetal.region import create_app  # noqa: E402
from baremetal.store import Store  # noqa: E402
from baremetal.store.accounts import create_token  # noqa: E402
from bench.allocate import populate  # noqa: E402
from tests.api import oauth_header  # noqa: E402
from tests.live import BAREMETAL, free_port, wait_for_http  # noqa: E402


def timed_get(url: str, key: str) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": oauth_header(key)})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
    return time.perf_counter() - started, body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    import subprocess

    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{scratch}/bench.db"
        store = Store(url)
        user = populate(store, args.machines, random.Random(7))
        with store.write() as conn:
            from sqlalchemy import update

            from baremetal.store import schema as t
            conn.execute(update(t.users).where(t.users.c.id == user.id)
                         .values(is_superuser=True))
            key = create_token(conn, user.id).api_key

        # Queries, counted in-process on the same code path.
        statements: list[str] = []
        event.listen(store.engine, "before_cursor_execute",
                     lambda *a: statements.append(a[2]))
        client = create_app(store).test_client()
        response = client.get("/MAAS/api/2.0/machines/",
                              headers={"Authorization": oauth_header(key)})
        assert response.status_code == 200
        queries = len([s for s in statements if s.strip().upper() not in ("BEGIN", "COMMIT")])
        transaction_statements = len(statements) - queries

        port = free_port()
        process = subprocess.Popen(
            [str(BAREMETAL), "region", "--database-url", url, "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            api = f"http://127.0.0.1:{port}/MAAS/api/2.0/"
            wait_for_http(api + "version/", process)
            timed_get(api + "machines/", key)  # warm-up
            request_times = []
            for _ in range(args.repeat):
                elapsed, body = timed_get(api + "machines/", key)
                request_times.append(elapsed)
        finally:
            process.terminate()
            process.wait(timeout=30)
        payload = json.loads(body)
        assert len(payload) == args.machines
        dumps_times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            json.dumps(payload)
            dumps_times.append(time.perf_counter() - started)
        store.dispose()

    request_median = statistics.median(request_times)
    dumps_median = statistics.median(dumps_times)
    print(f"machines: {args.machines}  payload: {len(body) / 1e6:.1f} MB")
    print(f"GET machines/ through gunicorn: median {request_median * 1000:.0f} ms "
          f"(of {args.repeat})")
    print(f"SQL queries for the request: {queries} (target <= 10), plus "
          f"{transaction_statements} BEGIN statements")
    print(f"json.dumps of the same payload: median {dumps_median * 1000:.0f} ms")
    print(f"request / json.dumps: {request_median / dumps_median:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
