"""Image files on the region's disk, named by their sha256 (`files/ab/abcd…`), so that a
file shared by two sets is stored once. Bytes are streamed in and out in 1 MiB blocks,
never held whole; a file enters `files/` only once its size and sha256 are right, so a
half-written or wrong file is never served."""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalFile:
    """A file made on this machine (a build), to be taken into the library."""

    filename: str
    filetype: str
    path: Path
    sha256: str
    size: int


class FileRejected(ValueError):
    """The bytes are not the file they claim to be; the message says how."""


class DiskFull(OSError):
    """No room for the file; nothing half-written is kept."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class BackgroundWriter:
    """Appends blocks to a file, and feeds them to a digest, each from its own thread, so
    that receiving the next block overlaps with writing and hashing this one (file writes
    and hashlib both release the GIL). At most `depth` blocks wait in memory; a write error
    is raised to the caller at its next write or at close."""

    def __init__(self, path: Path, digest: Any | None = None, depth: int = 8) -> None:
        self.handle = path.open("ab")
        self.error: OSError | None = None
        self.queues: list[queue.Queue[bytes | None]] = []
        self.threads = []
        for consume in (self._write, digest.update) if digest is not None else (self._write,):
            blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
            thread = threading.Thread(target=self._run, args=(blocks, consume),
                                      name="image-writer", daemon=True)
            thread.start()
            self.queues.append(blocks)
            self.threads.append(thread)

    def _write(self, block: bytes) -> None:
        if self.error is None:
            try:
                self.handle.write(block)
            except OSError as error:
                self.error = error

    @staticmethod
    def _run(blocks: queue.Queue[bytes | None], consume: Callable[[bytes], Any]) -> None:
        while (block := blocks.get()) is not None:
            consume(block)

    def write(self, block: bytes) -> None:
        if self.error is not None:
            raise self.error
        for blocks in self.queues:
            blocks.put(block)

    def close(self) -> None:
        for blocks in self.queues:
            blocks.put(None)
        for thread in self.threads:
            thread.join()
        self.handle.close()
        if self.error is not None:
            raise self.error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageFiles:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / "files" / sha256[:2] / sha256

    def has(self, sha256: str, size: int | None = None) -> bool:
        path = self.path(sha256)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def partial(self, name: str) -> Path:
        """Where an upload or a download is assembled (kept across requests, to resume)."""
        directory = self.root / "partial"
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    def _install(self, source: Path, sha256: str, size: int, filename: str,
                 digest: str | None = None) -> Path:
        """Check `source` against the expected size and sha256 (`digest`, when the caller
        hashed it as it was written); move it into place."""
        actual = source.stat().st_size
        if actual != size:
            raise FileRejected(f"{filename}: {actual} bytes, expected {size}")
        digest = digest or sha256_of(source)
        if digest != sha256:
            raise FileRejected(f"{filename}: sha256 {digest[:16]}… does not match the "
                               f"expected {sha256[:16]}…")
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return target

    def write(self, blocks: Iterable[bytes], sha256: str, size: int, filename: str,
              partial_name: str) -> Path:
        """Stream `blocks` into a new file and install it if it is right; a wrong or
        truncated stream, or a full disk, leaves nothing installed."""
        work = self.partial(partial_name)
        digest = hashlib.sha256()
        try:
            with work.open("wb") as handle:
                written = 0
                for block in blocks:
                    written += len(block)
                    if written > size:
                        raise FileRejected(f"{filename}: more than the expected {size} bytes")
                    digest.update(block)
                    handle.write(block)
            return self._install(work, sha256, size, filename, digest.hexdigest())
        except OSError as error:
            if error.errno == 28:
                raise DiskFull(28, f"{filename}: the image directory is full") from None
            raise
        finally:
            work.unlink(missing_ok=True)

    def append(self, partial_name: str, data: bytes, size: int, filename: str) -> int:
        """Add a chunk of an upload; the bytes received so far."""
        work = self.partial(partial_name)
        have = work.stat().st_size if work.exists() else 0
        if have + len(data) > size:
            raise FileRejected(f"{filename}: the chunk goes past the file's size "
                               f"({have} + {len(data)} > {size} bytes)")
        try:
            with work.open("ab") as handle:
                handle.write(data)
        except OSError as error:
            if error.errno == 28:
                with work.open("ab") as handle:
                    handle.truncate(have)
                raise DiskFull(28, f"{filename}: the image directory is full") from None
            raise
        return have + len(data)

    def finish(self, partial_name: str, sha256: str, size: int, filename: str,
               digest: str | None = None) -> Path:
        """The upload or download is whole: install it, or throw it away if it is wrong."""
        work = self.partial(partial_name)
        try:
            return self._install(work, sha256, size, filename, digest)
        finally:
            work.unlink(missing_ok=True)

    def adopt(self, source: Path, sha256: str, size: int, filename: str) -> Path:
        """A file made on this machine (a build): hard-linked into place when it can be,
        else copied; checked either way."""
        if self.has(sha256, size):
            return self.path(sha256)
        work = self.partial(f"adopt-{sha256}")
        work.unlink(missing_ok=True)
        try:
            os.link(source, work)
        except OSError:
            shutil.copyfile(source, work)
        try:
            return self._install(work, sha256, size, filename)
        finally:
            work.unlink(missing_ok=True)

    def discard(self, sha256s: Iterable[str]) -> None:
        for sha256 in sha256s:
            self.path(sha256).unlink(missing_ok=True)
