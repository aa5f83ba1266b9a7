"""A simplestreams mirror written by a test (the layout images.maas.io serves), optionally
signed with a throwaway GnuPG key: streams/v1/index(.s)json and a products file naming
each version's boot-kernel, boot-initrd and squashfs with their sha256 and size."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PRODUCTS = "streams/v1/com.example.baremetal:images.json"


@dataclass
class Signer:
    home: Path

    @classmethod
    def create(cls, home: Path, name: str = "Test Mirror") -> Signer:
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "",
                        "--quick-gen-key", f"{name} <mirror@example.com>", "ed25519",
                        "sign", "never"], check=True, capture_output=True, timeout=120)
        return cls(home)

    def keyring(self) -> bytes:
        return subprocess.run(["gpg", "--homedir", str(self.home), "--export"],
                              check=True, capture_output=True, timeout=60).stdout

    def clearsign(self, data: bytes) -> bytes:
        return subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--yes",
                               "--clearsign"], input=data, check=True, capture_output=True,
                              timeout=60).stdout


def _item(root: Path, relative: str, source: Path | bytes, ftype: str) -> dict:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        path.unlink(missing_ok=True)
        os.link(source, path)  # a 300 MB image is not copied
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return {"ftype": ftype, "path": relative, "sha256": digest.hexdigest(),
            "size": path.stat().st_size}


def write_mirror(root: Path, release: str, version: str,
                 files: dict[str, Path | bytes], signer: Signer | None = None,
                 arch: str = "amd64", os_name: str = "debian") -> dict:
    """Write the mirror; `files` maps ftype (boot-kernel, boot-initrd, squashfs) to a path
    to link or to bytes. Returns the products document (tests then break it on purpose)."""
    base = f"{os_name}/{release}/{arch}/{version}"
    items = {ftype: _item(root, f"{base}/{ftype}", source, ftype)
             for ftype, source in files.items()}
    products = {"content_id": "com.example.baremetal:images", "format": "products:1.0",
                "products": {f"com.example:{os_name}:{release}:{arch}": {
                    "os": os_name, "release": release, "arch": arch, "subarch": "generic",
                    "label": "stable", "versions": {version: {"items": items}}}}}
    save_streams(root, products, signer)
    return products


def save_streams(root: Path, products: dict, signer: Signer | None) -> None:
    index = {"format": "index:1.0", "index": {products["content_id"]: {
        "format": "products:1.0", "path": PRODUCTS, "products": list(products["products"])}}}
    for relative, document in (("streams/v1/index.json", index), (PRODUCTS, products)):
        data = json.dumps(document, indent=1).encode()
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if signer is not None:
            path.with_suffix(".sjson").write_bytes(signer.clearsign(data))
