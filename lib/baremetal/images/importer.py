"""Importing images from simplestreams mirrors (the layout images.maas.io serves):
`streams/v1/index.sjson` (clearsigned; verified with gpgv against the boot source's
keyring) or, for a source without a keyring, `index.json`; the products files it names;
for each selection the newest version of each matching product, whose items boot-kernel,
boot-initrd and squashfs are downloaded (resuming a partial download), checked for size
and sha256, and only then put in service. A failure leaves the image in service as it was
and says which file and why, in an event and in the import's progress."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import requests

from baremetal.store import Store
from baremetal.store import schema as t
from baremetal.store.catalog import record_event
from baremetal.store.images import (
    FileSpec,
    add_set,
    drop_unfinished_set,
    keep_newest_sets,
    list_resources,
    list_selections,
    list_sources,
    put_resource,
    set_received,
    source_keyring,
    start_activity,
    update_activity,
)

from .files import CHUNK, BackgroundWriter, DiskFull, FileRejected, ImageFiles

log = logging.getLogger(__name__)
ACTIVITY = "import"
WANTED = {"boot-kernel": "boot-kernel", "boot-initrd": "boot-initrd",
          "squashfs": "root.squashfs"}


class ImportFailed(RuntimeError):
    """The message names the file or index and the reason."""


class ImportStopped(RuntimeError):
    pass


@dataclass(frozen=True)
class Product:
    name: str  # debian/bookworm
    architecture: str  # amd64/generic
    version: str
    label: str
    items: dict[str, dict[str, Any]]  # ftype -> {path, sha256, size}


def _open(url: str, offset: int = 0, timeout: float = 60) -> Iterator[bytes]:
    """The bytes at `url` from `offset`, in blocks (http(s) with Range, or file://)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        with open(parsed.path, "rb") as handle:
            handle.seek(offset)
            while block := handle.read(CHUNK):
                yield block
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 404:
            raise ImportFailed(f"{url}: not found on the mirror (404)")
        if response.status_code == 416 and offset:
            return  # nothing more to read
        if response.status_code not in (200, 206):
            raise ImportFailed(f"{url}: the mirror answered {response.status_code}")
        if offset and response.status_code == 200:
            raise ImportFailed(f"{url}: the mirror does not resume (no Range support)")
        yield from response.iter_content(CHUNK)


def _read(url: str) -> bytes:
    try:
        return b"".join(_open(url))
    except FileNotFoundError:
        raise ImportFailed(f"{url}: not found on the mirror") from None
    except (requests.RequestException, OSError) as error:
        raise ImportFailed(f"{url}: {error}") from None


def verify_clearsigned(data: bytes, keyring: bytes, keyring_file: str, what: str) -> bytes:
    """The signed content of a clearsigned document, if a key of the keyring signed it."""
    with tempfile.TemporaryDirectory(prefix="baremetal-gpg-") as home:
        path = keyring_file
        if keyring:
            path = str(Path(home) / "keyring.gpg")
            Path(path).write_bytes(keyring)
        if not path or not Path(path).is_file():
            raise ImportFailed(f"{what}: the boot source's keyring {keyring_file!r} is missing")
        signed = Path(home) / "signed"
        signed.write_bytes(data)
        done = subprocess.run(["gpgv", "--homedir", home, "--keyring", path, "--output", "-",
                               str(signed)], capture_output=True, timeout=60)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise ImportFailed(f"{what}: bad signature ({reason[-1] if reason else 'gpgv failed'})")
    return done.stdout


def _json(url: str, keyring: bytes, keyring_file: str) -> dict[str, Any]:
    signed = bool(keyring or keyring_file)
    if signed:
        url = url.removesuffix(".json") + ".sjson" if url.endswith(".json") else url
    data = _read(url)
    if signed:
        data = verify_clearsigned(data, keyring, keyring_file, url)
    try:
        return json.loads(data)
    except ValueError:
        raise ImportFailed(f"{url}: not JSON") from None


def _matches(value: str, wanted: list[str]) -> bool:
    return "*" in wanted or value in wanted


def find_products(base: str, keyring: bytes, keyring_file: str,
                  selections: list[dict[str, Any]]) -> list[Product]:
    """The newest version of every product the selections want; a selection with no
    product is an error naming it."""
    signed = bool(keyring or keyring_file)
    index = _json(urljoin(base, "streams/v1/index.sjson" if signed else
                          "streams/v1/index.json"), keyring, keyring_file)
    found: list[Product] = []
    matched: set[int] = set()
    for entry in (index.get("index") or {}).values():
        if not isinstance(entry, dict) or "path" not in entry:
            continue
        products = _json(urljoin(base, entry["path"]), keyring, keyring_file)
        for product_name, product in (products.get("products") or {}).items():
            for selection in selections:
                if (product.get("os") != selection["os"]
                        or product.get("release") != selection["release"]
                        or not _matches(product.get("arch", ""), selection["arches"])
                        or not _matches(product.get("subarch", "generic"),
                                        selection["subarches"])
                        or not _matches(product.get("label", "stable"), selection["labels"])):
                    continue
                versions = product.get("versions") or {}
                if not versions:
                    raise ImportFailed(f"{product_name}: the product has no versions")
                version = max(versions)
                items = {item.get("ftype"): item for item in
                         (versions[version].get("items") or {}).values()
                         if isinstance(item, dict)}
                missing = sorted(set(WANTED) - set(items))
                if missing:
                    raise ImportFailed(f"{product_name} {version}: no {', '.join(missing)} "
                                       "item")
                matched.add(selection["id"])
                found.append(Product(
                    f"{selection['os']}/{selection['release']}",
                    f"{product.get('arch')}/{product.get('subarch', 'generic')}", version,
                    product.get("label", "stable"),
                    {ftype: items[ftype] for ftype in WANTED}))
    for selection in selections:
        if selection["id"] not in matched:
            raise ImportFailed(f"{selection['os']}/{selection['release']}: no such product "
                               f"on the mirror {base}")
    return found


class Importer:
    """One import run: every source, every selection. Stops between blocks when asked."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.files = ImageFiles(store.images_dir)
        self.done_bytes = 0
        self.total_bytes = 0

    def _progress(self, step: str) -> None:
        with self.store.write() as conn:
            state = update_activity(conn, ACTIVITY, step=step[:64], done_bytes=self.done_bytes,
                                    total_bytes=self.total_bytes)
        if state == "stopping":
            raise ImportStopped("stopped by request")

    def run(self) -> list[str]:
        """Import; the names of the images put in service."""
        with self.store.read() as conn:
            sources = [(*source_keyring(conn, s["id"]), list_selections(conn, s["id"]))
                       for s in list_sources(conn)]
        plans = []
        for url, keyring, keyring_file, selections in sources:
            self._progress(f"reading {url}")
            if selections:
                plans += [(url, p) for p in find_products(url, keyring, keyring_file,
                                                          selections)]
        todo = [(url, p) for url, p in plans if not self._have(p)]
        self.total_bytes = sum(int(item["size"]) for _, p in todo for item in p.items.values())
        imported = []
        for url, product in todo:
            self._fetch(url, product)
            imported.append(f"{product.name} {product.architecture} {product.version}")
        return imported

    def _have(self, product: Product) -> bool:
        b = t.boot_resources
        with self.store.read() as conn:
            found = list_resources(conn, b.c.name == product.name,
                                   b.c.architecture == product.architecture)
        return any(s["version"] == product.version and s["complete"]
                   for r in found for s in r["sets"])

    def _fetch(self, base: str, product: Product) -> None:
        specs = [FileSpec(WANTED[ftype], ftype, item["sha256"], int(item["size"]))
                 for ftype, item in product.items.items()]
        with self.store.write() as conn:
            resource_id = put_resource(conn, "Synced", product.name, product.architecture)
            set_id, ids = add_set(conn, resource_id, product.version, product.label, specs)
        try:
            for ftype, item in product.items.items():
                self._download(urljoin(base, item["path"]), WANTED[ftype], item,
                               ids[WANTED[ftype]])
        except BaseException:
            with self.store.write() as conn:
                drop_unfinished_set(conn, resource_id, set_id)
            raise
        with self.store.write() as conn:
            gone = keep_newest_sets(conn, resource_id)
            record_event(conn, None, "Image imported",
                         f"{product.name} {product.architecture} {product.version} "
                         f"imported from {base}", None)
        self.files.discard(gone)

    def _download(self, url: str, filename: str, item: dict[str, Any], file_id: int) -> None:
        sha256, size = item["sha256"], int(item["size"])
        if self.files.has(sha256, size):
            self.done_bytes += size
            with self.store.write() as conn:
                set_received(conn, file_id, size, True)
            return
        name = f"import-{sha256}"
        partial = self.files.partial(name)
        have = partial.stat().st_size if partial.exists() else 0
        if have > size:
            partial.unlink()
            have = 0
        # Hashed as it arrives, unless resumed (then the whole file is read once at the end).
        digest = hashlib.sha256() if have == 0 else None
        self.done_bytes += have
        since = 0
        try:
            with BackgroundWriter(partial, digest) as handle:
                for block in _open(url, have):
                    have += len(block)
                    if have > size:
                        raise FileRejected(f"{filename}: more than the expected {size} bytes")
                    handle.write(block)
                    self.done_bytes += len(block)
                    since += len(block)
                    if since >= 32 * CHUNK:
                        since = 0
                        with self.store.write() as conn:
                            set_received(conn, file_id, have, False)
                        self._progress(f"downloading {filename}")
        except FileRejected as error:
            partial.unlink(missing_ok=True)
            raise ImportFailed(f"{url}: {error}") from None
        except OSError as error:
            if error.errno == 28:
                partial.unlink(missing_ok=True)
                raise ImportFailed(f"{url}: the image directory is full") from None
            if isinstance(error, FileNotFoundError):
                raise ImportFailed(f"{url}: not found on the mirror") from None
            raise ImportFailed(f"{url}: {error}") from None
        except requests.RequestException as error:
            raise ImportFailed(f"{url}: {error} (the next import resumes at {have} bytes)") \
                from None
        if have < size:
            raise ImportFailed(f"{url}: truncated: {have} of {size} bytes (the next import "
                               "resumes from there)")
        try:
            self.files.finish(name, sha256, size, filename,
                              digest.hexdigest() if digest is not None else None)
        except (FileRejected, DiskFull) as error:
            raise ImportFailed(f"{url}: {error}") from None
        with self.store.write() as conn:
            set_received(conn, file_id, size, True)


def run_import(store: Store) -> None:
    """One import, its outcome recorded (the activity row and an event)."""
    try:
        imported = Importer(store).run()
    except ImportStopped:
        with store.write() as conn:
            update_activity(conn, ACTIVITY, state="stopped", message="stopped by request")
        return
    except ImportFailed as error:
        log.error("image import failed: %s", error)
        with store.write() as conn:
            update_activity(conn, ACTIVITY, state="failed", message=str(error)[:2000])
            record_event(conn, None, "Image import failed", str(error)[:2000], None,
                         level="ERROR")
        return
    except Exception as error:  # never leave the import marked running
        log.exception("image import failed")
        with store.write() as conn:
            update_activity(conn, ACTIVITY, state="failed", message=f"internal error: {error}")
        return
    with store.write() as conn:
        update_activity(conn, ACTIVITY, state="done", step="done",
                        message="imported: " + (", ".join(imported) or "nothing new"))


def start_import(store: Store) -> bool:
    """Start an import in the background; False if one is running."""
    with store.write() as conn:
        if not start_activity(conn, ACTIVITY, "starting"):
            return False
    threading.Thread(target=run_import, args=(store,), name="image-import", daemon=True).start()
    return True
