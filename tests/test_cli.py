"""`baremetal up` as the README runs it: a real process serving on a real port."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
    )
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
