"""`baremetal images build|list|import|upload|delete`. `build` runs here, against the
region's database (it needs root for debootstrap); the others talk to a region's API with
a login profile, as the other client commands do."""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

from .client import CommandError, Region, output

IMAGE_COLUMNS = ("id", "name", "architecture", "type", "state", "version", "size",
                 "progress")


def add_parser(commands, common, local) -> None:  # type: ignore[no-untyped-def]
    images = commands.add_parser("images", help="boot images: build, list, import, upload, "
                                                "delete")
    sub = images.add_subparsers(dest="images_command", required=True)
    build = sub.add_parser("build", help="build an image from Debian packages and store it "
                                         "in the region (needs root)")
    local(build)
    build.add_argument("--os", default=None, metavar="OS/RELEASE",
                       help="a deployable OS, e.g. debian/bookworm (default: the busybox "
                            "environment simulated machines use)")
    build.add_argument("--arch", default="amd64")
    build.add_argument("--mirror", default="",
                       help="the Debian mirror (default: the one this machine's apt uses)")
    build.add_argument("--cache", type=Path, default=None,
                       help="build cache (default: $BAREMETAL_IMAGE_CACHE or "
                            "/var/cache/baremetal/images)")
    common(sub.add_parser("list", help="the region's images, their state and progress"))
    imports = common(sub.add_parser("import", help="import the boot sources' selections"))
    imports.add_argument("--wait", action="store_true", help="wait, showing progress")
    imports.add_argument("--timeout", type=float, default=3600)
    upload = common(sub.add_parser("upload", help="upload a custom image (chunked)"))
    upload.add_argument("name", help="custom/NAME or os/release")
    upload.add_argument("file", type=Path)
    upload.add_argument("--architecture", default="amd64/generic")
    upload.add_argument("--filetype", default="tgz",
                        choices=("tgz", "ddtgz", "squashfs", "tbz", "txz", "ddraw"))
    upload.add_argument("--title", default="")
    delete = common(sub.add_parser("delete", help="delete an image"))
    delete.add_argument("id", type=int)


def _size(size: int) -> str:
    if size <= 0:
        return "0"
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = min(int(math.log(size, 1024)), len(units) - 1)
    return f"{size / 1024 ** power:.1f} {units[power]}" if power else f"{size} B"


class BuildProgress:
    """Steps and bytes on a terminal: one line per step, the byte count rewritten in place
    on a TTY (a line every 10 s otherwise)."""

    def __init__(self, stream=sys.stderr) -> None:  # type: ignore[no-untyped-def]
        self.stream = stream
        self.tty = stream.isatty()
        self.step = ""
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, step: str, what: str, size: int) -> None:
        from baremetal.images.debian import STEPS

        now = time.monotonic()
        number = STEPS.index(step) + 1 if step in STEPS else 0
        if step != self.step:
            if self.tty and self.step:
                self.stream.write("\n")
            self.step = step
            self.stream.write(f"[{now - self.started:6.1f}s] step {number}/{len(STEPS)} "
                              f"{step}: {what}{'' if self.tty else chr(10)}")
            self.last = now
        elif self.tty:
            self.stream.write(f"\r[{now - self.started:6.1f}s] step {number}/{len(STEPS)} "
                              f"{step}: {_size(size)}\033[K")
        elif now - self.last >= 10:
            self.stream.write(f"[{now - self.started:6.1f}s] {step}: {_size(size)}\n")
            self.last = now
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.step:
            self.stream.write("\n")
        self.stream.flush()


def build(args: argparse.Namespace, store) -> int:  # type: ignore[no-untyped-def]
    """`images build`: the OS image (debootstrap, cached by its inputs) or the busybox
    environment; stored in the region, with its progress recorded for the API and UI."""
    if not args.os:
        from baremetal.operator import TaskError, Tasks

        print("building the ephemeral image (kernel from linux-image-amd64, busybox "
              "initramfs)", flush=True)
        tasks = Tasks(store.url)
        try:
            for stored in tasks.build_images(args.data_dir / "cache"):
                print(f"{stored['architecture']} {stored['name']} {stored['filename']}: "
                      f"{stored['size']} bytes, sha256 {stored['sha256']}")
        except TaskError as error:
            print(f"images build: {error}", file=sys.stderr)
            return 1
        finally:
            tasks.close()
        print("racks fetch the image on their next sync")
        return 0
    import signal

    from baremetal.images.builds import BuildFailed, build_and_store

    # Stopped (by `up` ending, or systemd): unwind, so the build's chroot mounts are undone.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    progress = BuildProgress()
    started = time.monotonic()
    try:
        image = build_and_store(store, args.os, args.arch, args.cache, progress, args.mirror)
    except BuildFailed as error:
        progress.done()
        print(f"images build: {error}", file=sys.stderr)
        return 1
    progress.done()
    print(f"{image.name} {image.architecture} {image.version}"
          f"{' (cached build)' if image.cached else ''} in {time.monotonic() - started:.1f} s")
    for item in image.files:
        print(f"  {item.filetype:12} {item.filename:14} {_size(item.size):>10}  sha256 "
              f"{item.sha256}")
    print("racks fetch the image on their next sync")
    return 0


def _states(region: Region) -> list[dict]:
    rows = []
    for summary in region.call("GET", "boot-resources/"):
        detail = region.call("GET", f"boot-resources/{summary['id']}/")
        sets = sorted(detail.get("sets", {}).values(), key=lambda s: s["version"],
                      reverse=True)
        serving = next((s for s in sets if s["complete"]), None)
        pending = sets[0] if sets and not sets[0]["complete"] else None
        rows.append({"id": detail["id"], "name": detail["name"],
                     "architecture": detail["architecture"], "type": detail["type"],
                     "state": "ready" if serving else "incomplete",
                     "version": serving["version"] if serving else "",
                     "size": _size(serving["size"]) if serving else "",
                     "progress": f"{pending['progress']:.0f}%" if pending else ""})
    return rows


def _activity(region: Region) -> list[dict]:
    return region.call("GET", "boot-resources/", "activity") or []


def client(args: argparse.Namespace) -> int:
    region = Region.from_profile(args.profile)
    command = args.images_command
    if command == "list":
        rows = _states(region)
        output(rows, args.format, IMAGE_COLUMNS)
        for item in _activity(region):
            if item["state"] in ("running", "stopping", "failed"):
                done = _size(item["done_bytes"])
                total = f" of {_size(item['total_bytes'])}" if item["total_bytes"] else ""
                print(f"{item['name']}: {item['state']} - {item['step']} ({done}{total})"
                      f"{' - ' + item['message'] if item['message'] else ''}",
                      file=sys.stderr)
        return 0
    if command == "delete":
        region.call("DELETE", f"boot-resources/{args.id}/")
        print(f"deleted image {args.id}")
        return 0
    if command == "import":
        print(region.call("POST", "boot-resources/", "import"))
        return _wait_import(region, args.timeout) if args.wait else 0
    if command == "upload":
        return _upload(region, args)
    return 2


def _wait_import(region: Region, timeout: float) -> int:
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        found = {a["name"]: a for a in _activity(region)}.get("import")
        if found:
            line = f"{found['state']}: {found['step']} ({_size(found['done_bytes'])} of " \
                   f"{_size(found['total_bytes'])})"
            if line != last:
                print(f"[{time.monotonic() - started:6.1f}s] {line}", file=sys.stderr,
                      flush=True)
                last = line
            if found["state"] == "done":
                print(found["message"])
                return 0
            if found["state"] in ("failed", "stopped"):
                raise CommandError(f"import {found['state']}: {found['message']}")
        time.sleep(1)
    raise CommandError(f"the import did not finish in {timeout:.0f} s")


def _upload(region: Region, args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
            size += len(block)
    created = region.call("POST", "boot-resources/", None, {
        "name": args.name, "architecture": args.architecture, "filetype": args.filetype,
        "sha256": digest.hexdigest(), "size": str(size), "title": args.title})
    newest = created["sets"][max(created["sets"])]
    [file] = newest["files"].values()
    sent = 0
    if not file["complete"]:
        with path.open("rb") as handle:
            while block := handle.read(1 << 22):
                response = region.session.put(
                    region.api.split("/MAAS/api/2.0/")[0] + file["upload_uri"], data=block,
                    headers={"Content-Type": "application/octet-stream"}, timeout=300)
                if response.status_code >= 400:
                    raise CommandError(f"{response.status_code}: {response.text.strip()}")
                sent += len(block)
                print(f"\ruploaded {_size(sent)} of {_size(size)}", end="", file=sys.stderr,
                      flush=True)
        print(file=sys.stderr)
    print(f"image {created['id']} {created['name']} {created['architecture']}: "
          f"{_size(size)}, sha256 {digest.hexdigest()}")
    return 0
