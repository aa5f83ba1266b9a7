"""Images in the region: uploads (python-libmaas's chunked upload against a live region,
and every bad upload refused with 400), imports from simplestreams mirrors the test
writes (each bad mirror fails with a message naming the file, and the image in service
stays in service), the deploy's choice of image, and the real OS environment's boot:
the kernel command line, the preseed tied to the boot, cloud-init's OAuth metadata."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from baremetal.images.files import ImageFiles, LocalFile
from baremetal.images.library import store_built
from baremetal.models import NodeStatus
from baremetal.store import Store
from baremetal.store import schema as t
from baremetal.store.boot import machine_token
from baremetal.store.images import get_activity, list_resources, start_activity
from baremetal.store.machines import set_status

from .api import build_api
from .conftest import migrated_store
from .live import start_region, stop_region
from .mirror import Signer, save_streams, write_mirror

KERNEL, INITRD, SQUASHFS = b"K" * 3000, b"I" * 2000, os.urandom(200_000)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Uploads.

def test_a_custom_image_uploads_in_chunks_with_python_libmaas(tmp_path):
    from maas.client import connect
    from maas.client.viscera.boot_resources import BootResourceFileType

    region = start_region(tmp_path, command="region")
    try:
        asyncio.set_event_loop(asyncio.new_event_loop())
        client = connect(region.url, apikey=region.admin_key)
        content = os.urandom(9 << 20)  # three 4 MiB chunks, the last one short
        seen = []
        created = client.boot_resources.create(
            "custom/webserver", "amd64/generic", io.BytesIO(content), title="Web server",
            filetype=BootResourceFileType.TGZ, progress_callback=seen.append)
        assert seen[-1] == 1.0 and len(seen) == 3
        [version] = created.sets.values()
        [file] = version.files.values()
        assert version.complete and file.complete and file.size == len(content)
        assert file.sha256 == _sha(content) and file.filetype == "root-tgz"
        listed = {r.name: r for r in client.boot_resources.list()}
        assert listed["custom/webserver"].type == "Uploaded"
        read = client.boot_resources.get(listed["custom/webserver"].id)
        assert read.architecture == "amd64/generic" and read.subarches == "generic"
        assert [s.complete for s in read.sets.values()] == [True]
        on_disk = ImageFiles(region.store.images_dir).path(_sha(content))
        assert on_disk.read_bytes() == content
        listed["custom/webserver"].delete()
        assert "custom/webserver" not in {r.name for r in client.boot_resources.list()}
        assert not on_disk.exists()
    finally:
        stop_region(region)


def test_the_images_commands_upload_import_list_and_delete(tmp_path):
    from .live import BAREMETAL

    region = start_region(tmp_path, command="region")
    env = {**os.environ, "BAREMETAL_CONFIG_DIR": str(tmp_path / "config")}

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BAREMETAL), *args], capture_output=True, text=True,
                              timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        return done

    try:
        run("login", "lab", region.url, region.admin_key)
        image = tmp_path / "image.tgz"
        image.write_bytes(os.urandom(5 << 20))
        uploaded = run("images", "upload", "custom/app", str(image), "--title", "App")
        assert f"custom/app amd64/generic: 5.0 MiB, sha256 {_sha(image.read_bytes())}" \
            in uploaded.stdout
        assert "uploaded 5.0 MiB of 5.0 MiB" in uploaded.stderr
        write_mirror(tmp_path / "m", "bookworm", "20261204",
                     {"boot-kernel": KERNEL, "boot-initrd": INITRD, "squashfs": SQUASHFS})
        from baremetal.store.images import create_selection, create_source

        with region.store.write() as conn:
            source = create_source(conn, f"file://{tmp_path / 'm'}/")
            create_selection(conn, source["id"], "debian", "bookworm", ["amd64"], [], [])
        imported = run("images", "import", "--wait")
        assert "imported: debian/bookworm amd64/generic 20261204" in imported.stdout
        rows = {line.split()[1]: line.split() for line in
                run("images", "list").stdout.splitlines()[1:]}
        assert rows["custom/app"][2:5] == ["amd64/generic", "Uploaded", "ready"]
        assert rows["debian/bookworm"][2:5] == ["amd64/generic", "Synced", "ready"]
        listed = json.loads(run("images", "list", "--format", "json").stdout)
        [app] = [row for row in listed if row["name"] == "custom/app"]
        run("images", "delete", str(app["id"]))
        assert "custom/app" not in run("images", "list").stdout
    finally:
        stop_region(region)


def _post(api, key=None, **fields):  # type: ignore[no-untyped-def]
    return api.call("POST", "boot-resources/", key or api.admin_key, data=fields)


def test_bad_uploads_get_a_clear_400_and_leave_nothing(api):
    data = b"x" * 1000
    good = {"name": "custom/img", "architecture": "amd64/generic", "filetype": "tgz",
            "sha256": _sha(data), "size": "1000"}
    before = api.call("GET", "boot-resources/", api.admin_key).get_json()
    cases = [
        ({**good, "content": (io.BytesIO(b"y" * 1000), "c")}, "does not match"),
        ({**good, "content": (io.BytesIO(b"x" * 10), "c")}, "10 bytes, but size says 1000"),
        ({**good, "name": "custom/../etc"}, "is not an image name"),
        ({**good, "filetype": "exe"}, "filetype: 'exe'"),
        ({**good, "sha256": "abc"}, "sha256: must be 64"),
        ({**good, "architecture": "amd64/bad arch"}, "architecture"),
        ({**good, "size": "-5"}, "size: must be a positive"),
    ]
    for fields, message in cases:
        response = _post(api, **fields)
        assert response.status_code == 400, (fields, response.get_data(as_text=True))
        assert message in response.get_data(as_text=True)
    assert api.call("GET", "boot-resources/", api.admin_key).get_json() == before
    assert _post(api, api.user_key, **good).status_code == 403
    # Chunks: past the size is refused; a whole file with the wrong bytes is discarded.
    created = _post(api, **good).get_json()
    [version] = created["sets"].values()
    [file] = version["files"].values()
    uri = file["upload_uri"]
    put = lambda body: api.call("PUT", uri, api.admin_key, data=body,  # noqa: E731
                                content_type="application/octet-stream")
    assert "past the file's size" in put(b"x" * 1001).get_data(as_text=True)
    assert put(b"x" * 600).get_json() == {"received": 600, "size": 1000, "complete": False}
    wrong = put(b"z" * 400)
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    detail = api.call("GET", f"boot-resources/{created['id']}/", api.admin_key).get_json()
    [version] = detail["sets"].values()
    assert not version["complete"]
    assert put(b"x" * 1000).get_json()["complete"] is True  # sent again, right this time
    served = {(r["name"]) for r in api.call("GET", "boot-resources/", api.admin_key).get_json()}
    assert "custom/img" in served


# Imports.

def _import(api, timeout: float = 30) -> dict:  # type: ignore[no-untyped-def]
    assert api.call("POST", "boot-resources/?op=import", api.admin_key).status_code == 200
    deadline = time.monotonic() + timeout
    while api.call("GET", "boot-resources/?op=is_importing", api.admin_key).get_json():
        assert time.monotonic() < deadline, "the import did not end"
        time.sleep(0.1)
    with api.store.read() as conn:
        return get_activity(conn, "import")


def _source(api, url: str, keyring: bytes = b""):  # type: ignore[no-untyped-def]
    data = {"url": url}
    if keyring:
        data["keyring_data"] = (io.BytesIO(keyring), "keyring.gpg")
    source = api.call("POST", "boot-sources/", api.admin_key, data=data).get_json()
    response = api.call("POST", f"boot-sources/{source['id']}/selections/", api.admin_key,
                        data={"os": "debian", "release": "bookworm", "arches": "amd64"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return source


def _serving(api) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """name -> serving version"""
    with api.store.read() as conn:
        return {r["name"]: next(s["version"] for s in r["sets"] if s["complete"])
                for r in list_resources(conn) if any(s["complete"] for s in r["sets"])}


@pytest.fixture
def signer(tmp_path_factory) -> Signer:
    return Signer.create(tmp_path_factory.mktemp("gnupg"))


def test_a_signed_mirror_imports_and_every_bad_mirror_is_refused(api, tmp_path, signer):
    files = {"boot-kernel": KERNEL, "boot-initrd": INITRD, "squashfs": SQUASHFS}
    good = tmp_path / "good"
    write_mirror(good, "bookworm", "20261201", files, signer)
    source = _source(api, f"file://{good}/", signer.keyring())
    assert _import(api)["state"] == "done"
    assert _serving(api)["debian/bookworm"] == "20261201"
    [resource] = [r for r in api.call("GET", "boot-resources/", api.admin_key).get_json()
                  if r["name"] == "debian/bookworm"]
    assert resource["type"] == "Synced"
    library = ImageFiles(api.store.images_dir)
    assert library.path(_sha(SQUASHFS)).read_bytes() == SQUASHFS

    def newer(directory, change=None, sign=signer):  # type: ignore[no-untyped-def]
        products = write_mirror(tmp_path / directory, "bookworm", "20261202",
                                {**files, "squashfs": SQUASHFS[:-1] + b"!"}, sign)
        if change:
            change(products["products"]["com.example:debian:bookworm:amd64"]["versions"][
                "20261202"]["items"])
            save_streams(tmp_path / directory, products, sign)
        api.call("PUT", f"boot-sources/{source['id']}/", api.admin_key,
                 data={"url": f"file://{tmp_path / directory}/"})

    def wrong_sha(items):  # type: ignore[no-untyped-def]
        items["squashfs"]["sha256"] = "0" * 64

    def truncated(items):  # type: ignore[no-untyped-def]
        items["squashfs"]["size"] += 100

    def missing_item(items):  # type: ignore[no-untyped-def]
        del items["boot-initrd"]

    other = Signer.create(tmp_path / "other-gnupg", "Somebody Else")
    cases = [(lambda: newer("sha", wrong_sha), "squashfs: sha256"),
             (lambda: newer("short", truncated), "truncated: 200000 of 200100 bytes"),
             (lambda: newer("forged", sign=other), "bad signature"),
             (lambda: newer("unsigned", sign=None), "index.sjson: not found"),
             (lambda: newer("no-initrd", missing_item), "no boot-initrd item")]
    for prepare, message in cases:
        prepare()
        outcome = _import(api)
        assert outcome["state"] == "failed" and message in outcome["message"], outcome
        assert _serving(api)["debian/bookworm"] == "20261201"  # still in service
    # The event names the reason too.
    events = api.call("GET", "events/?op=query&limit=50", api.admin_key).get_json()
    assert any("bad signature" in e["description"] for e in events["events"])
    # A selection with no product on the mirror.
    newer("fine")
    api.call("POST", f"boot-sources/{source['id']}/selections/", api.admin_key,
             data={"os": "debian", "release": "trixie"})
    outcome = _import(api)
    assert "debian/trixie: no such product" in outcome["message"]
    # Nothing half-written is where images are served from: every file there is whole
    # (its name is its sha256); only the truncated download waits in partial/ to resume.
    for path in library.root.joinpath("files").rglob("*"):
        assert path.is_dir() or _sha(path.read_bytes()) == path.name
    assert [p.name.split("-")[0] for p in library.root.joinpath("partial").iterdir()] == [
        "import"]


def test_an_unsigned_index_is_only_taken_from_a_source_without_a_keyring(api, tmp_path):
    write_mirror(tmp_path / "m", "bookworm", "20261201",
                 {"boot-kernel": KERNEL, "boot-initrd": INITRD, "squashfs": SQUASHFS})
    _source(api, f"file://{tmp_path / 'm'}/")
    assert _import(api)["state"] == "done"
    assert "debian/bookworm" in _serving(api)


def test_an_interrupted_download_resumes_where_it_stopped(api, tmp_path):
    files = {"boot-kernel": KERNEL, "boot-initrd": INITRD, "squashfs": SQUASHFS}
    write_mirror(tmp_path / "m", "bookworm", "20261205", files)
    [squashfs] = (tmp_path / "m").rglob("squashfs")
    squashfs.write_bytes(SQUASHFS[:120_000])  # the mirror's copy is cut short
    _source(api, f"file://{tmp_path / 'm'}/")
    outcome = _import(api)
    assert "truncated: 120000 of 200000 bytes" in outcome["message"]
    # Now the first part on the mirror is garbage: only a download that resumes at
    # byte 120000 (keeping what it had) ends with the right sha256.
    squashfs.write_bytes(b"\0" * 120_000 + SQUASHFS[120_000:])
    assert _import(api)["state"] == "done"
    assert _serving(api)["debian/bookworm"] == "20261205"
    assert ImageFiles(api.store.images_dir).path(_sha(SQUASHFS)).read_bytes() == SQUASHFS


def test_a_full_disk_fails_the_import_and_keeps_nothing(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)],
                   check=True, timeout=30)
    try:
        store = Store(f"sqlite:///{tmp_path / 'full.db'}", images_dir=mount)
        migrated_store(store.url).dispose()
        api = build_api(store)
        write_mirror(tmp_path / "m", "bookworm", "20261201",
                     {"boot-kernel": KERNEL, "boot-initrd": INITRD, "squashfs": SQUASHFS})
        _source(api, f"file://{tmp_path / 'm'}/")
        outcome = _import(api)
        assert outcome["state"] == "failed" and "full" in outcome["message"], outcome
        assert _serving(api)["debian/bookworm"] == "20260101"  # the stand-in stays
        assert not any((mount / "partial").iterdir())
        store.dispose()
    finally:
        subprocess.run(["umount", str(mount)], timeout=30)


def test_import_stops_when_asked(api, tmp_path):
    big = tmp_path / "big"
    with big.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: a 1 GiB download that costs no disk to make
    write_mirror(tmp_path / "m", "bookworm", "20261201",
                 {"boot-kernel": KERNEL, "boot-initrd": INITRD, "squashfs": big})
    _source(api, f"file://{tmp_path / 'm'}/")
    assert api.call("POST", "boot-resources/?op=import", api.admin_key).get_data(
        as_text=True) == "Import of boot resources started"
    assert api.call("POST", "boot-resources/?op=import", api.admin_key).get_data(
        as_text=True) == "Import of boot resources is already running"
    assert api.call("GET", "boot-resources/?op=is_importing", api.admin_key).get_json() is True
    api.call("POST", "boot-resources/?op=stop_import", api.admin_key)
    deadline = time.monotonic() + 60
    while api.call("GET", "boot-resources/?op=is_importing", api.admin_key).get_json():
        assert time.monotonic() < deadline, "the import did not stop"
        time.sleep(0.1)
    [activity] = api.call("GET", "boot-resources/?op=activity", api.admin_key).get_json()
    assert activity["name"] == "import" and activity["state"] == "stopped"
    assert activity["message"] == "stopped by request" and activity["total_bytes"] > 1 << 30
    assert _serving(api)["debian/bookworm"] == "20260101"  # the image in service stays


def test_a_failed_build_names_its_step_and_what_it_printed(tmp_path):
    from .live import BAREMETAL, free_port

    url = f"sqlite:///{tmp_path / 'build.db'}"
    run = lambda *extra: subprocess.run(  # noqa: E731
        [str(BAREMETAL), "images", "build", "--database-url", url, "--cache",
         str(tmp_path / "cache"), *extra], capture_output=True, text=True, timeout=300)
    refused = run("--os", "debian/sid")
    assert refused.returncode == 1
    assert "can only build debian/bookworm (not 'debian/sid')" in refused.stderr
    failed = run("--os", "debian/bookworm", "--mirror",
                 f"http://127.0.0.1:{free_port()}/debian")  # nothing listens there
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "images build: step 'bootstrap' failed: debootstrap --variant=minbase exited 1" \
        in failed.stderr
    assert "Failed getting release file" in failed.stderr  # what debootstrap said
    store = Store(url)
    with store.read() as conn:
        outcome = get_activity(conn, "build:debian/bookworm")
        assert list_resources(conn) == []
    store.dispose()
    assert outcome["state"] == "failed" and "step 'bootstrap'" in outcome["message"]
    # The work directory (and its chroot mounts) is gone.
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["debs"]
    assert str(tmp_path) not in Path("/proc/mounts").read_text()


# Deploying an image.

def test_deploy_takes_an_available_image_and_names_them_otherwise(api):
    machine = api.call("POST", "machines/?op=allocate", api.admin_key).get_json()
    path = f"machines/{machine['system_id']}/?op=deploy"
    refused = api.call("POST", path, api.admin_key, data={"distro_series": "centos/7"})
    assert refused.status_code == 400
    assert refused.get_data(as_text=True) == (
        "distro_series: 'centos/7' is not an available image (available: debian/bookworm, "
        "ubuntu/jammy, ubuntu/noble).")
    with api.store.write() as conn:
        start_activity(conn, "build:debian/trixie", "squashfs: mksquashfs (zstd)")
    busy = api.call("POST", path, api.admin_key, data={"distro_series": "debian/trixie"})
    assert busy.status_code == 409
    assert busy.get_data(as_text=True).startswith(
        "debian/trixie is not ready yet: it is being built (squashfs: mksquashfs (zstd); ")
    again = api.call("GET", f"machines/{machine['system_id']}/", api.admin_key).get_json()
    assert again["status_name"] == "Allocated"  # a refused deploy changed nothing
    deployed = api.call("POST", path, api.admin_key, data={"distro_series": "bookworm"})
    assert deployed.get_json()["osystem"] == "debian"
    assert deployed.get_json()["distro_series"] == "bookworm"


def test_region_configuration(api):
    get = lambda name: api.call("GET", f"maas/?op=get_config&name={name}",  # noqa: E731
                                api.admin_key)
    assert get("commissioning_distro_series").get_json() == "bookworm"
    assert api.call("POST", "maas/?op=set_config", api.user_key,
                    data={"name": "default_distro_series", "value": "x"}).status_code == 403
    assert api.call("POST", "maas/?op=set_config", api.admin_key,
                    data={"name": "default_distro_series", "value": "jammy"}).status_code == 200
    assert get("default_distro_series").get_json() == "jammy"
    assert get("nonsense").status_code == 400


# The real OS environment's boot.

def _real_os(api):  # type: ignore[no-untyped-def]
    """A complete debian/bookworm with a squashfs, and a commissioning machine."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as work:
        specs = []
        for name, kind, data in (("boot-kernel", "boot-kernel", KERNEL),
                                 ("boot-initrd", "boot-initrd", INITRD),
                                 ("root.squashfs", "squashfs", SQUASHFS)):
            (Path(work) / name).write_bytes(data)
            specs.append(LocalFile(name, kind, Path(work) / name, _sha(data), len(data)))
        store_built(api.store, "debian/bookworm", "amd64/generic", "20261203", specs)
    with api.store.write() as conn:
        row = conn.execute(select(t.machines).order_by(t.machines.c.id).limit(1)).first()
        set_status(conn, row.system_id, NodeStatus.COMMISSIONING)
        return row, machine_token(conn, row.id)


def _boot_config(api, mac: str) -> str:  # type: ignore[no-untyped-def]
    from baremetal.store.racks import rack_secret

    with api.store.write() as conn:
        secret = rack_secret(conn)
    answer = api.client.post("/MAAS/rack/v1/boot-config", json={
        "mac": mac, "loader": "ipxe", "http_base": "http://10.0.0.2:5248"},
        headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["config"]


def _oauth(system_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": f'OAuth oauth_consumer_key="{system_id}", oauth_token='
                             f'"{system_id}", oauth_signature_method="PLAINTEXT", '
                             f'oauth_signature="{quote("&" + secret)}", oauth_nonce="1", '
                             'oauth_timestamp="1", oauth_version="1.0"'}


def test_the_real_os_environment_boots_with_cloud_init_pointed_at_the_region(api):
    machine, token = _real_os(api)
    with api.store.read() as conn:
        mac = conn.execute(select(t.interfaces.c.mac_address).where(
            t.interfaces.c.machine_id == machine.id)).scalar()
    config = _boot_config(api, mac)
    base = "http://10.0.0.2:5248"
    assert f"kernel {base}/images/amd64/debian/bookworm/boot-kernel " in config
    assert f"initrd {base}/images/amd64/debian/bookworm/boot-initrd" in config
    assert f"boot=live fetch={base}/images/amd64/debian/bookworm/root.squashfs" in config
    assert "ci.ds=MAAS" in config
    preseed = config.split("cloud-config-url=")[1].split()[0]
    path = preseed.removeprefix(base)
    answer = api.client.get(path)
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert text.startswith("#cloud-config\n")
    assert f'"token_secret": "{token}"' in text and '"metadata_url"' in text
    # Only with this boot's nonce, and only while the machine netboots.
    assert api.client.get(path.replace(path.split("/")[-2], "0" * 32)).status_code == 404
    # cloud-init's MAAS datasource: OAuth PLAINTEXT with the machine's credentials.
    meta = "/MAAS/metadata/2012-03-01/"
    headers = _oauth(machine.system_id, token)
    assert api.client.get(meta + "meta-data/instance-id", headers=headers).get_data(
        as_text=True) == machine.system_id
    assert api.client.get(meta + "meta-data/local-hostname", headers=headers).get_data(
        as_text=True) == machine.hostname
    assert api.client.get(meta + "meta-data/instance-id",
                          headers=_oauth(machine.system_id, "wrong")).status_code == 401
    runner = api.client.get(meta + "user-data", headers=headers).get_data(as_text=True)
    assert runner.startswith("#!/bin/sh") and "latest/script" in runner
    # The status webhook: events push the deadline; bad ones are refused.
    hook = f"/MAAS/metadata/status/{machine.system_id}"
    assert api.client.post(hook, headers=headers, json={
        "event_type": "start", "origin": "cloudinit", "name": "init-network",
        "description": "searching"}).status_code == 204
    assert api.client.post(hook, headers=headers, json={"event_type": "x"}).status_code == 400
    assert api.client.post(hook, json={"event_type": "x"}).status_code == 401
    with api.store.read() as conn:
        message = conn.execute(select(t.machines.c.status_message).where(
            t.machines.c.id == machine.id)).scalar()
    assert "cloudinit init-network start" in message
    set_status_released = None  # an enlisting (unknown) machine still gets busybox
    assert set_status_released is None
    assert "boot=live" not in _boot_config(api, "52:54:00:99:99:99")
