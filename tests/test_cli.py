"""`baremetal up` as the README runs it: a real process serving on a real port."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from baremetal.children import die_with_parent

BAREMETAL = Path(sys.executable).with_name("baremetal")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_up_serves_the_version_endpoint_on_sqlite(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [str(BAREMETAL), "up", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent)
    try:
        url = f"http://127.0.0.1:{port}/MAAS/api/2.0/version/"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    body = json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        assert body["version"] == "3.5.0" and "authenticate-api" in body["capabilities"]
        assert (tmp_path / "baremetal.db").exists()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output


def test_migrate_is_idempotent(tmp_path):
    for _ in range(2):
        done = subprocess.run([str(BAREMETAL), "migrate", "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "latest schema" in done.stdout


def _baremetal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BAREMETAL), *args], capture_output=True, text=True, timeout=60)


def test_createadmin_and_api_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    created = _baremetal("createadmin", "--database-url", url, "--username", "root",
                         "--password", "long-enough-pw", "--email", "root@example.com")
    assert created.returncode == 0, created.stderr
    again = _baremetal("createadmin", "--database-url", url, "--username", "root",
                       "--password", "long-enough-pw")
    assert again.returncode == 1 and "already exists" in again.stderr
    short = _baremetal("createadmin", "--database-url", url, "--username", "x",
                       "--password", "short")
    assert short.returncode == 1 and "8 characters" in short.stderr

    first = _baremetal("apikey", "--database-url", url, "--username", "root").stdout.strip()
    second = _baremetal("apikey", "--database-url", url, "--username", "root",
                        "--generate").stdout.strip()
    assert len(first.split(":")) == 3 and first != second
    listed = _baremetal("apikey", "--database-url", url, "--username", "root", "--list")
    assert listed.stdout.split() == [first, second]
    deleted = _baremetal("apikey", "--database-url", url, "--username", "root",
                         "--delete", first)
    assert deleted.returncode == 0
    listed = _baremetal("apikey", "--database-url", url, "--username", "root", "--list")
    assert listed.stdout.split() == [second]
    missing = _baremetal("apikey", "--database-url", url, "--username", "nobody")
    assert missing.returncode == 1 and "no user" in missing.stderr
