"""`baremetal up --simulate N`: N simulated machines next to the all-in-one region. They
PXE boot from `up`'s rack, enlist with the enlistment image and are commissioned through
the API; the URL and an administrator's API key are printed to use them."""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys

from baremetal.store import Store


def _ensure_image(store: Store, args: argparse.Namespace) -> None:
    from baremetal.images.build import build_image
    from baremetal.images.library import store_busybox
    from baremetal.store.images import BUSYBOX, boot_files

    with store.read() as conn:
        if boot_files(conn, BUSYBOX, "amd64"):
            return
    print("simulate: no boot image yet; building it (`baremetal images build`)", flush=True)
    image = build_image(args.data_dir / "cache")
    store_busybox(store, image.architecture, image.files["vmlinuz"], image.files["initrd"],
                  image.kernel_version)


def _admin_key(store: Store) -> str:
    from baremetal.store.accounts import create_token
    from baremetal.store.references import create_user, get_user

    with store.write() as conn:
        admin = get_user(conn, "admin")
        if admin is None:
            password = secrets.token_urlsafe(12)
            admin = create_user(conn, "admin", password, "", is_superuser=True)
            print(f"simulate: created user 'admin' with password {password}", flush=True)
        return create_token(conn, admin.id, "simulate").api_key


def start_simulation(args: argparse.Namespace, database_url: str) -> subprocess.Popen:
    from baremetal.children import die_with_parent

    store = Store(database_url)
    _ensure_image(store, args)
    key = _admin_key(store)
    store.dispose()
    host = "127.0.0.1" if args.listen in ("0.0.0.0", "::") else args.listen
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"simulate: {args.simulate} machines; API {url}/MAAS/ with key {key}", flush=True)
    return subprocess.Popen(
        [sys.executable, "-m", "baremetal.sim.farm", "--count", str(args.simulate),
         "--rack-host", host, "--tftp-port", str(args.tftp_port), "--power-on",
         "--commission", f"{url}/MAAS/api/2.0/"],
        env={**os.environ, "BAREMETAL_API_KEY": key}, preexec_fn=die_with_parent)
