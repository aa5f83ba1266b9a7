"""A live region process for client tests: `baremetal region` under gunicorn on a free
loopback port, with its own SQLite database, an admin and a non-admin with API keys."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from baremetal.children import die_with_parent
from baremetal.store import Store
from baremetal.store.accounts import create_token
from baremetal.store.references import create_user

from .images import add_os_images

BAREMETAL = Path(sys.executable).with_name("baremetal")


def free_port(kind: str = "tcp") -> int:
    with socket.socket(type=socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveRegion:
    url: str  # http://127.0.0.1:PORT/MAAS/
    store: Store
    admin_key: str
    user_key: str
    process: subprocess.Popen
    log_path: Path
    tftp_port: int = 0  # the rack `up` runs
    http_port: int = 0

    @property
    def api(self) -> str:
        return self.url + "api/2.0/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until `url` answers; fails at once if `process`, which should serve it, has exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.2)


def start_bmcs(count: int, username: str = "admin", password: str = "password",
               log: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A process of virtual BMCs on free loopback ports; returns (process, ports). Its
    output is drained into `log` (a pipe left unread fills up and blocks the BMCs)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "baremetal.sim.bmc", "--base-port", "0", "--count", str(count),
         "--username", username, "--password", password],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=die_with_parent)
    line = process.stdout.readline()
    try:
        ports = json.loads(line)["listening"]
    except (ValueError, KeyError):
        process.kill()
        raise RuntimeError(f"virtual BMCs did not start: {line}{process.stdout.read()}") \
            from None
    sink = log if log is not None else []

    def drain() -> None:
        for output in process.stdout:
            if len(sink) < 10_000:
                sink.append(output)

    threading.Thread(target=drain, daemon=True).start()
    return process, ports


def start_region(directory: Path, database_url: str | None = None,
                 command: str = "up", env: dict[str, str] | None = None,
                 build_os_image: bool = False, workers: int = 1) -> LiveRegion:
    """`baremetal up` (region and an in-process power worker) or `baremetal region`."""
    url = database_url or f"sqlite:///{directory / 'region.db'}"
    port = free_port()
    log_path = directory / "region.log"
    subprocess.run([str(BAREMETAL), "migrate", "--database-url", url], check=True,
                   capture_output=True, timeout=120)
    store = Store(url)
    with store.write() as conn:
        admin = create_user(conn, "admin", "admin-password", "admin@example.com",
                            is_superuser=True)
        user = create_user(conn, "alice", "alice-password", "alice@example.com")
        admin_key = create_token(conn, admin.id, "tests").api_key
        user_key = create_token(conn, user.id, "tests").api_key
    if not build_os_image:  # stand-ins, so that deploys have an image
        add_os_images(store)
    tftp_port, http_port = free_port("udp"), free_port()
    extra = [] if command != "up" else [
        "--boot-dir", str(directory / "rack"), "--listen", "127.0.0.1", "--tftp-port",
        str(tftp_port), "--http-port", str(http_port), "--no-dhcp",
        *([] if build_os_image else ["--no-os-image"])]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BAREMETAL), command, "--database-url", url, "--port", str(port),
             "--threads", "8", "--workers", str(workers), *extra], stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=die_with_parent)
    region = LiveRegion(f"http://127.0.0.1:{port}/MAAS/", store, admin_key, user_key,
                        process, log_path, tftp_port, http_port)
    try:
        wait_for_http(region.api + "version/", process)
    except RuntimeError:
        stop_region(region)
        raise RuntimeError("the region did not start:\n" + region.log()) from None
    return region


def stop_region(region: LiveRegion) -> None:
    region.process.terminate()
    try:
        region.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        region.process.kill()
    region.store.dispose()


def http_status(url: str) -> int:
    """The status `url` answers with (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_until(predicate, timeout: float, what: str, details=None):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns something true (returned); else fail saying what
    was awaited, with `details()` (e.g. a console log) when given."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out waiting for {what}{extra}")
        time.sleep(0.5)


IMAGE_CACHE = Path("/var/cache/baremetal-test")


def store_image(store: Store, cache: Path = IMAGE_CACHE) -> None:
    """The real ephemeral image (Debian's kernel, our initramfs) in the region."""
    from baremetal.images.build import build_image
    from baremetal.images.library import store_busybox

    image = build_image(cache)
    store_busybox(store, image.architecture, image.files["vmlinuz"], image.files["initrd"],
                  image.kernel_version)
