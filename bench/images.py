"""Importing an OS image from a local simplestreams mirror, against curl; and the region's
memory while it imports and while it serves the image to 10 racks at once.

The image is the Debian build (`baremetal images build --os debian/bookworm`, cached by its
inputs; built here if the cache is cold). The mirror is written from it (signed with a
throwaway key) and served by Python's threaded HTTP server on loopback. curl fetches the
same files to the same disk first; then the region (gunicorn, SQLite) imports them through
`op=import`; then 10 clients download the squashfs through the rack API at once.
Reported: build time (cold or cached), sizes, import throughput / curl throughput (target
at least 0.8x), peak RSS (VmHWM, reset between phases) of the region's worker while
importing and while serving (target under 250 MB each).

    python bench/images.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baremetal.children import die_with_parent
from baremetal.images.debian import BuildInputs, build  # noqa: E402
from baremetal.images.files import ImageFiles  # noqa: E402
from baremetal.store.racks import rack_secret  # noqa: E402
from bench.commission import children, peak_kib  # noqa: E402
from tests.api import oauth_header  # noqa: E402
from tests.live import free_port, start_region, stop_region  # noqa: E402
from tests.mirror import Signer, write_mirror  # noqa: E402

ROUNDS = 5


def call(region, method: str, path: str, data: bytes | None = None):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(region.api + path, method=method, data=data,
                                     headers={"Authorization": oauth_header(region.admin_key)})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    try:
        return json.loads(body)
    except ValueError:
        return body.decode()


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="images-bench-", dir="/var/tmp"))
    started = time.monotonic()
    image = build(BuildInputs(), progress=lambda step, what, size: None)
    build_s = time.monotonic() - started
    sizes = {f.filetype: f.size for f in image.files}
    total = sum(sizes.values())
    mirror = work / "mirror"
    signer = Signer.create(work / "gnupg")
    products = write_mirror(mirror, "bookworm", "20261202",
                            {f.filetype: f.path for f in image.files}, signer)
    items = next(iter(products["products"].values()))["versions"]["20261202"]["items"]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(mirror)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=die_with_parent)
    region = start_region(work, command="region")
    try:
        time.sleep(1)
        base = f"http://127.0.0.1:{port}/"
        [worker] = [pid for pid in children(region.process.pid)]
        source = call(region, "POST", "boot-sources/", urllib.parse.urlencode(
            {"url": base}).encode())
        call(region, "POST", f"boot-sources/{source['id']}/selections/",
             urllib.parse.urlencode({"os": "debian", "release": "bookworm"}).encode())
        # the signed index needs the keyring: set it as the API would be given it
        with region.store.write() as conn:
            from baremetal.store.images import update_source

            update_source(conn, source["id"], keyring_data=signer.keyring())
        # Rounds of curl then import, the same files to the same disk, each phase started
        # with no dirty pages (sync) so neither pays for the other's writeback.
        curl_runs, import_runs = [], []
        reset_peak(worker)
        for _ in range(ROUNDS):
            curl_dir = work / "curl"
            curl_dir.mkdir()
            os.sync()
            started = time.monotonic()
            for item in items.values():
                subprocess.run(["curl", "-sf", "-o", str(curl_dir / item["ftype"]),
                                base + item["path"]], check=True, timeout=600)
            curl_runs.append(time.monotonic() - started)
            shutil.rmtree(curl_dir)
            for resource in call(region, "GET", "boot-resources/"):
                call(region, "DELETE", f"boot-resources/{resource['id']}/")
            library = ImageFiles(region.store.images_dir)
            assert not any(library.has(item["sha256"]) for item in items.values())
            os.sync()
            started = time.monotonic()
            call(region, "POST", "boot-resources/?op=import", b"")
            while call(region, "GET", "boot-resources/?op=is_importing"):
                time.sleep(0.02)
            import_runs.append(time.monotonic() - started)
            [activity] = [a for a in call(region, "GET", "boot-resources/?op=activity")
                          if a["name"] == "import"]
            assert activity["state"] == "done", activity
        curl_s, import_s = statistics.median(curl_runs), statistics.median(import_runs)
        import_peak = peak_kib(worker)

        # 10 racks download the squashfs at once
        with region.store.write() as conn:
            secret = rack_secret(conn)
        listed = json.loads(urllib.request.urlopen(urllib.request.Request(
            region.url + "rack/v1/config", data=json.dumps({"system_id": "bench"}).encode(),
            headers={"Authorization": f"Bearer {secret}",
                     "Content-Type": "application/json"})).read())["images"]
        [squashfs] = [i for i in listed if i["filetype"] == "squashfs"]
        reset_peak(worker)
        failures = []

        def fetch() -> None:
            request = urllib.request.Request(region.url + f"rack/v1/images/{squashfs['id']}",
                                             headers={"Authorization": f"Bearer {secret}"})
            got = 0
            with urllib.request.urlopen(request, timeout=600) as response:
                while block := response.read(1 << 20):
                    got += len(block)
            if got != squashfs["size"]:
                failures.append(got)

        threads = [threading.Thread(target=fetch) for _ in range(10)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        serve_s = time.monotonic() - started
        serve_peak = peak_kib(worker)
        assert not failures, failures
    finally:
        stop_region(region)
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    mib = 1 << 20
    print(json.dumps({
        "build": {"seconds": round(build_s, 2), "cached": image.cached},
        "sizes_mib": {k: round(v / mib, 1) for k, v in sizes.items()},
        "curl": {"seconds": round(curl_s, 2), "mib_per_s": round(total / mib / curl_s, 1),
                 "runs": [round(x, 2) for x in curl_runs]},
        "import": {"seconds": round(import_s, 2), "runs": [round(x, 2) for x in import_runs],
                   "mib_per_s": round(total / mib / import_s, 1),
                   "ratio_to_curl": round(curl_s / import_s, 2),
                   "region_worker_peak_rss_mib": round(import_peak / 1024, 1)},
        "serve_10_racks": {"seconds": round(serve_s, 2),
                           "mib_per_s": round(10 * squashfs["size"] / mib / serve_s, 1),
                           "region_worker_peak_rss_mib": round(serve_peak / 1024, 1)},
    }, indent=2))


if __name__ == "__main__":
    main()
