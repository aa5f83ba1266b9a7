"""Boot storm: 100 clients at once fetch the iPXE bootloader over TFTP and the real image
(kernel and initrd from `baremetal images build`) over HTTP from a rack, against Debian's
tftpd-hpa serving the same bootloader, and the kernel and initrd, over TFTP.

The rack is the product's: `baremetal region` plus `baremetal rack` (TFTP with tftpy, HTTP
boot on its own port), the image synced from the region. tftpd-hpa's binary is taken from
Debian's package with `apt-get download` (not installed: its service would take port 69).
The clients are real: curl, 100 processes at once, TFTP block size 1432 as iPXE asks.
Targets: our TFTP within 2x of tftpd-hpa for the bootloader; the whole chain (TFTP + HTTP)
at least 5x faster than all-TFTP.

    python bench/boot_storm.py [--clients 100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baremetal.images.build import build_image  # noqa: E402
from baremetal.store.boot import put_boot_resource  # noqa: E402
from tests.live import BAREMETAL, free_port, start_region, stop_region, wait_for_http  # noqa: E402

BLKSIZE = "1432"


def curl(*urls: str) -> int:
    """One client: fetch the URLs in order (as a PXE client does); bytes received."""
    total = 0
    for url in urls:
        done = subprocess.run(["curl", "-sf", "--tftp-blksize", BLKSIZE, "--max-time", "600",
                               "-o", "/dev/null", "-w", "%{size_download}", url],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{url}: curl exit {done.returncode}")
        total += int(done.stdout)
    return total


def storm(clients: int, urls: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        sizes = list(pool.map(lambda _: curl(*urls), range(clients)))
    return time.perf_counter() - started, sum(sizes)


def tftpd_hpa(cache: Path) -> Path:
    binary = cache / "tftpd-hpa" / "usr" / "sbin" / "in.tftpd"
    if not binary.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "-q", "tftpd-hpa"], cwd=cache, check=True,
                       capture_output=True)
        [deb] = sorted(cache.glob("tftpd-hpa_*.deb"))[-1:]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(cache / "tftpd-hpa")], check=True)
    return binary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="boot-storm-"))
    cache = Path(os.environ.get("BAREMETAL_BENCH_CACHE", "/var/cache/baremetal-bench"))
    image = build_image(cache)
    print(f"image: kernel {image.kernel_version}, vmlinuz {len(image.files['vmlinuz'])} B, "
          f"initrd {len(image.files['initrd'])} B")

    region = start_region(work, command="region")
    with region.store.write() as conn:
        for filename, content in image.files.items():
            put_boot_resource(conn, image.architecture, image.name, filename, content)
    from baremetal.store.racks import rack_secret

    with region.store.write() as conn:
        secret = rack_secret(conn)
    tftp_port, http_port = free_port("udp"), free_port()
    rack = subprocess.Popen(
        [str(BAREMETAL), "rack", "--region-url", region.url.removesuffix("/MAAS/"),
         "--no-power", "--no-dhcp", "--boot-dir", str(work / "rack"), "--listen", "127.0.0.1",
         "--tftp-port", str(tftp_port), "--http-port", str(http_port)],
        env={**os.environ, "BAREMETAL_RACK_SECRET": secret},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http = f"http://127.0.0.1:{http_port}"
    tftpd = None
    try:
        wait_for_http(f"{http}/undionly.kpxe", rack)
        deadline = time.monotonic() + 120
        while subprocess.run(["curl", "-sf", "-o", "/dev/null", f"{http}/images/amd64/"
                              "ephemeral/initrd"]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the rack did not sync the image")
            time.sleep(0.5)
        ours_tftp = f"tftp://127.0.0.1:{tftp_port}/undionly.kpxe"
        kernel = f"{http}/images/amd64/ephemeral/vmlinuz"
        initrd = f"{http}/images/amd64/ephemeral/initrd"
        boot_only, _ = storm(args.clients, [ours_tftp])
        chain, chain_bytes = storm(args.clients, [ours_tftp, kernel, initrd])

        root = work / "tftpd-root"
        root.mkdir()
        (root / "undionly.kpxe").write_bytes((work / "rack" / "boot" / "undionly.kpxe")
                                             .read_bytes())
        for filename, content in image.files.items():
            (root / filename).write_bytes(content)
        port = free_port("udp")
        tftpd = subprocess.Popen([str(tftpd_hpa(cache)), "-L", "-s", str(root), "-a",
                                  f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        theirs = f"tftp://127.0.0.1:{port}"
        hpa_boot, _ = storm(args.clients, [f"{theirs}/undionly.kpxe"])
        all_tftp, all_bytes = storm(args.clients, [f"{theirs}/undionly.kpxe",
                                                   f"{theirs}/vmlinuz", f"{theirs}/initrd"])
    finally:
        if tftpd is not None:
            tftpd.terminate()
        rack.terminate()
        rack.wait(timeout=30)
        stop_region(region)

    print(f"{args.clients} clients at once, TFTP blksize {BLKSIZE}")
    print(f"  bootloader over TFTP: ours (tftpy) {boot_only:.2f} s, tftpd-hpa {hpa_boot:.2f} s"
          f" -> ratio {boot_only / hpa_boot:.2f}x (target <= 2x)")
    print(f"  whole chain: ours TFTP+HTTP {chain:.2f} s ({chain_bytes / chain / 1e6:.0f} MB/s),"
          f" all-TFTP tftpd-hpa {all_tftp:.2f} s ({all_bytes / all_tftp / 1e6:.0f} MB/s)"
          f" -> {all_tftp / chain:.1f}x faster (target >= 5x)")


if __name__ == "__main__":
    main()
