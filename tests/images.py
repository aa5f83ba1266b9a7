"""Small stand-in OS images for tests that deploy: complete, on disk, named like real
ones, but without a squashfs (so machines keep commissioning in the busybox image)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from baremetal.images.files import LocalFile
from baremetal.images.library import store_built
from baremetal.store import Store

DEPLOYABLE = ("debian/bookworm", "ubuntu/jammy", "ubuntu/noble")


def add_os_images(store: Store, names: tuple[str, ...] = DEPLOYABLE) -> None:
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            data = f"root filesystem of {name}".encode()
            path = Path(work) / name.replace("/", "-")  # linked into the library: never reused
            path.write_bytes(data)
            store_built(store, name, "amd64/generic", "20260101", [LocalFile(
                "root-tgz", "root-tgz", path, hashlib.sha256(data).hexdigest(), len(data))])
