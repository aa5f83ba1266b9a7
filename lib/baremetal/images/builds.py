"""A build of an OS image stored in the region, with its progress recorded (the
`build:<name>` activity) for the API, the CLI and the UI; `baremetal images build --os`
and `baremetal up`'s first-start build both come here."""

from __future__ import annotations

import time
from pathlib import Path

from baremetal.store import Store
from baremetal.store.images import start_activity, update_activity

from .debian import BuildError, BuildInputs, BuiltImage, Progress, build, parse_os
from .files import FileRejected
from .library import store_built


class BuildFailed(RuntimeError):
    """The build did not happen or failed; the message names the step and the reason."""


def activity_name(image_name: str) -> str:
    return f"build:{image_name}"


def build_and_store(store: Store, os_text: str, arch: str = "amd64",
                    cache: Path | None = None, progress: Progress | None = None,
                    mirror: str = "") -> BuiltImage:
    try:
        inputs = BuildInputs(release=parse_os(os_text), arch=arch, mirror=mirror)
    except ValueError as error:
        raise BuildFailed(str(error)) from None
    name = activity_name(inputs.name)
    with store.write() as conn:
        if not start_activity(conn, name, "starting"):
            raise BuildFailed(f"a build of {inputs.name} is already running")
    last = [0.0, ""]

    def report(step: str, what: str, size: int) -> None:
        if progress is not None:
            progress(step, what, size)
        now = time.monotonic()
        if step != last[1] or now - last[0] >= 2:
            last[:] = [now, step]
            with store.write() as conn:
                update_activity(conn, name, step=f"{step}: {what}"[:64], done_bytes=size)

    try:
        image = build(inputs, cache, report)
        report("files", "storing in the region", sum(f.size for f in image.files))
        store_built(store, image.name, image.architecture, image.version, image.files,
                    title=f"Debian {inputs.release} ({image.kernel_version})")
    except (BuildError, FileRejected, OSError) as error:
        with store.write() as conn:
            update_activity(conn, name, state="failed", message=str(error)[-2000:])
        raise BuildFailed(str(error)) from None
    except BaseException as error:
        with store.write() as conn:
            update_activity(conn, name, state="failed", message=f"interrupted: {error!r}")
        raise
    with store.write() as conn:
        update_activity(conn, name, state="done", step="done",
                        done_bytes=sum(f.size for f in image.files),
                        total_bytes=sum(f.size for f in image.files),
                        message=f"{image.name} {image.version}")
    return image
