"""The region's image library: the rows (`store.images`) and the bytes (`files`) kept
together. Every way an image arrives (a build, an upload, an import) ends here, and an
image is only served once every file of its set is on disk and verified."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from baremetal.store import Store
from baremetal.store.images import (
    BUSYBOX,
    FileSpec,
    ImageError,
    add_set,
    delete_resource,
    get_file,
    keep_newest_sets,
    put_resource,
    set_received,
)

from .files import DiskFull, FileRejected, ImageFiles, LocalFile

UPLOAD_TYPES = {"tgz": "root-tgz", "ddtgz": "root-dd", "squashfs": "squashfs",
                "tbz": "root-tbz", "txz": "root-txz", "ddraw": "root-dd.raw"}


def files_of(store: Store) -> ImageFiles:
    return ImageFiles(store.images_dir)


def store_built(store: Store, name: str, architecture: str, version: str,
                files: Sequence[LocalFile], rtype: str = "Generated", title: str = "") -> int:
    """A set made on this machine. The files are linked or copied in and checked first;
    the rows come last, complete."""
    library = files_of(store)
    for file in files:
        library.adopt(file.path, file.sha256, file.size, file.filename)
    with store.write() as conn:
        resource_id = put_resource(conn, rtype, name, architecture, title)
        add_set(conn, resource_id, version, "stable",
                [FileSpec(f.filename, f.filetype, f.sha256, f.size) for f in files],
                complete=True)
        gone = keep_newest_sets(conn, resource_id)
    library.discard(gone)
    return resource_id


def store_busybox(store: Store, architecture: str, kernel: bytes, initrd: bytes,
                  version: str) -> int:
    """The simulated machines' environment (`images build` without --os)."""
    library = files_of(store)
    specs = []
    for filename, filetype, data in (("vmlinuz", "boot-kernel", kernel),
                                     ("initrd", "boot-initrd", initrd)):
        sha256 = hashlib.sha256(data).hexdigest()
        library.write([data], sha256, len(data), filename, f"busybox-{sha256}")
        specs.append(LocalFile(filename, filetype, library.path(sha256), sha256, len(data)))
    return store_built(store, BUSYBOX, architecture, version, specs)


def create_upload(store: Store, name: str, architecture: str, filetype: str, sha256: str,
                  size: int, title: str = "", content: bytes | None = None) -> int:
    """An uploaded custom image (POST boot-resources/): the resource and an incomplete set
    whose one file is filled by `content` now or by chunks later."""
    if filetype not in UPLOAD_TYPES:
        raise ImageError(f"filetype: '{filetype}' is not one of "
                         f"{', '.join(UPLOAD_TYPES)}.")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ImageError("sha256: must be 64 lower-case hexadecimal digits.")
    if size <= 0:
        raise ImageError("size: must be a positive number of bytes.")
    filename = UPLOAD_TYPES[filetype]
    if content is not None:
        if len(content) != size:
            raise ImageError(f"content: {len(content)} bytes, but size says {size}.")
        if hashlib.sha256(content).hexdigest() != sha256:
            raise ImageError("content: its sha256 does not match the sha256 given.")
    library = files_of(store)
    from baremetal.store.engine import utcnow

    version = utcnow().strftime("%Y%m%d.%H%M%S")
    with store.write() as conn:
        resource_id = put_resource(conn, "Uploaded", name, architecture, title)
        _, ids = add_set(conn, resource_id, version, "uploaded",
                      [FileSpec(filename, UPLOAD_TYPES[filetype], sha256, size)])
    if content is not None:
        try:
            library.write([content], sha256, size, filename, f"upload-{ids[filename]}")
        except (FileRejected, DiskFull) as error:
            with store.write() as conn:
                delete_resource(conn, resource_id)
            raise ImageError(str(error)) from None
        with store.write() as conn:
            set_received(conn, ids[filename], size, True)
            library.discard(keep_newest_sets(conn, resource_id))
    return resource_id


def upload_chunk(store: Store, resource_id: int, file_id: int, data: bytes) -> dict[str, Any]:
    """PUT boot-resources/{id}/upload/{file_id}/: append a chunk; the last one installs the
    file if its sha256 matches (else the upload starts over and says why)."""
    with store.read() as conn:
        row = get_file(conn, file_id)
    if row is None or row.resource_id != resource_id:
        raise LookupError("No such boot resource file.")
    if row.complete:
        raise ImageError(f"{row.filename}: the upload is already complete.")
    if not data:
        raise ImageError("the chunk is empty.")
    library = files_of(store)
    partial = f"upload-{file_id}"
    try:
        received = library.append(partial, data, row.size, row.filename)
    except (FileRejected, DiskFull) as error:
        raise ImageError(str(error)) from None
    complete = received == row.size
    if complete:
        try:
            library.finish(partial, row.sha256, row.size, row.filename)
        except FileRejected as error:
            with store.write() as conn:
                set_received(conn, file_id, 0, False)
            raise ImageError(f"{error}; the upload was discarded, send it again") from None
    with store.write() as conn:
        set_received(conn, file_id, received, complete)
        if complete:
            library.discard(keep_newest_sets(conn, resource_id))
    return {"received": received, "size": row.size, "complete": complete}


def remove(store: Store, resource_id: int) -> bool:
    with store.write() as conn:
        gone = delete_resource(conn, resource_id)
    if gone is None:
        return False
    files_of(store).discard(gone)
    return True
