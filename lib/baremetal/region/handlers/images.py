"""boot-resources/, boot-sources/ and their selections: the images the region holds, the
mirrors it imports from, uploads of custom images (python-libmaas's chunked upload)."""

from __future__ import annotations

import base64
import binascii

from flask import Response, request

from baremetal.images import importer, library
from baremetal.store.images import (
    ImageError,
    check_architecture,
    check_name,
    create_selection,
    create_source,
    delete_selection,
    delete_source,
    get_activity,
    get_resource,
    get_source,
    list_activity,
    list_resources,
    list_selections,
    list_sources,
    request_stop,
    update_source,
)

from ..errors import BadRequest, Conflict, NotFound
from ..params import path_id
from ..registry import API_ROOT, registry

resources = registry.resource("BootResourcesHandler", "/boot-resources/",
                              "The boot images the region holds: synced, uploaded, generated.")
resource = registry.resource("BootResourceHandler", "/boot-resources/{id}/",
                             "One boot image, with its sets and files.")
upload = registry.resource("BootResourceFileUploadHandler",
                           "/boot-resources/{id}/upload/{file_id}/",
                           "Upload a chunk of a boot resource file.")
sources = registry.resource("BootSourcesHandler", "/boot-sources/",
                            "Mirrors (simplestreams) that images are imported from.")
source = registry.resource("BootSourceHandler", "/boot-sources/{id}/", "One boot source.")
selections = registry.resource("BootSourceSelectionsHandler",
                               "/boot-sources/{boot_source_id}/selections/",
                               "What is imported from a boot source.")
selection = registry.resource("BootSourceSelectionHandler",
                              "/boot-sources/{boot_source_id}/selections/{id}/",
                              "One selection of a boot source.")


def _summary(found: dict) -> dict:
    arch, _, subarch = found["architecture"].partition("/")
    return {"id": found["id"], "type": found["rtype"], "name": found["name"],
            "architecture": found["architecture"], "subarches": subarch or "generic",
            "title": found["title"],
            "resource_uri": f"{API_ROOT}/boot-resources/{found['id']}/"}


def _detail(found: dict) -> dict:
    sets = {}
    for item in found["sets"]:
        files = {}
        for name, file in item["files"].items():
            files[name] = {"filename": file["filename"], "filetype": file["filetype"],
                           "sha256": file["sha256"], "size": file["size"],
                           "complete": file["complete"]}
            if not file["complete"]:
                files[name]["upload_uri"] = (f"{API_ROOT}/boot-resources/{found['id']}/"
                                             f"upload/{file['id']}/")
        sets[item["version"]] = {"version": item["version"], "label": item["label"],
                                 "size": item["size"], "complete": item["complete"],
                                 "progress": round(item["progress"], 1), "files": files}
    return {**_summary(found), "sets": sets}


@resources.action("GET")
def read_resources(call):  # type: ignore[no-untyped-def]
    """Every image: id, type (Synced, Uploaded, Generated), name, architecture, subarches.
    `type` filters (synced, uploaded, generated)."""
    wanted = (call.params.get("type") or "").lower()
    with call.store.read() as conn:
        found = list_resources(conn)
    return [_summary(r) for r in found if not wanted or wanted == "all"
            or r["rtype"].lower() == wanted]


@resources.action("POST", admin=True)
def create_resource(call):  # type: ignore[no-untyped-def]
    """Upload a custom image: name (custom/NAME or os/release), architecture, filetype
    (tgz, ddtgz, squashfs, ...), sha256, size, title; content now, or in chunks with PUT to
    the file's upload_uri."""
    call.require_admin()
    p = call.params
    name = p.required("name")
    if "/" not in name:
        name = f"custom/{name}"
    content = p.files.get("content")
    if content is None and p.get("content"):
        content = p.get("content").encode("latin-1")
    try:
        check_name(name)
        architecture = check_architecture(p.required("architecture"))
        size = p.integer("size", default=len(content) if content is not None else None)
        if size is None:
            raise BadRequest("size: This field is required.")
        sha256 = p.get("sha256") or ""
        if not sha256 and content is not None:
            import hashlib

            sha256 = hashlib.sha256(content).hexdigest()
        if not sha256:
            raise BadRequest("sha256: This field is required.")
        resource_id = library.create_upload(
            call.store, name, architecture, p.get("filetype") or "tgz", sha256.lower(),
            size, p.get("title") or "", content)
    except ImageError as error:
        raise BadRequest(str(error)) from None
    with call.store.read() as conn:
        return _detail(get_resource(conn, resource_id))


@resources.action("POST", "import", admin=True)
def import_resources(call):  # type: ignore[no-untyped-def]
    """Import the selected images from the boot sources, in the background."""
    call.require_admin()
    started = importer.start_import(call.store)
    return Response("Import of boot resources started" if started else
                    "Import of boot resources is already running", mimetype="text/plain")


@resources.action("GET", "is_importing")
def is_importing(call):  # type: ignore[no-untyped-def]
    """True while an import runs."""
    with call.store.read() as conn:
        found = get_activity(conn, importer.ACTIVITY)
    return bool(found and found["state"] in ("running", "stopping"))


@resources.action("GET", "activity")
def activity(call):  # type: ignore[no-untyped-def]
    """Image work and its progress: the import and builds (name, state, step, done_bytes,
    total_bytes, message, started, updated)."""
    with call.store.read() as conn:
        return [{**item, "started": item["started"].isoformat(),
                 "updated": item["updated"].isoformat()} for item in list_activity(conn)]


@resources.action("POST", "stop_import", admin=True)
def stop_import(call):  # type: ignore[no-untyped-def]
    """Stop a running import: what is already complete stays, the rest is dropped."""
    call.require_admin()
    with call.store.write() as conn:
        request_stop(conn, importer.ACTIVITY)
    return Response("Import of boot resources is being stopped", mimetype="text/plain")


@resource.action("GET")
def read_resource(call, id):  # type: ignore[no-untyped-def]  # noqa: A002
    """The image with its sets (version, label, size, complete) and their files
    (filename, filetype, sha256, size, complete)."""
    with call.store.read() as conn:
        found = get_resource(conn, path_id(id, "BootResource"))
    if found is None:
        raise NotFound("No BootResource matches the given query.")
    return _detail(found)


@resource.action("DELETE", admin=True)
def delete_resource(call, id):  # type: ignore[no-untyped-def]  # noqa: A002
    """Delete the image and its files."""
    call.require_admin()
    if not library.remove(call.store, path_id(id, "BootResource")):
        raise NotFound("No BootResource matches the given query.")
    return Response(status=204)


@upload.action("PUT", admin=True)
def upload_chunk(call, id, file_id):  # type: ignore[no-untyped-def]  # noqa: A002
    """A chunk of the file (the raw bytes as the body); the last one completes it."""
    call.require_admin()
    data = request.get_data(cache=True)
    if request.mimetype == "multipart/form-data" and "content" in call.params.files:
        data = call.params.files["content"]
    try:
        return library.upload_chunk(call.store, path_id(id, "BootResource"),
                                    path_id(file_id, "BootResourceFile"), data)
    except LookupError:
        raise NotFound("No BootResourceFile matches the given query.") from None
    except ImageError as error:
        raise BadRequest(str(error)) from None


# Boot sources.

def _keyring(call) -> bytes:  # type: ignore[no-untyped-def]
    data = call.params.files.get("keyring_data")
    if data is None and call.params.get("keyring_data"):
        text = call.params.get("keyring_data")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            data = text.encode("latin-1")
    return data or b""


@sources.action("GET")
def read_sources(call):  # type: ignore[no-untyped-def]
    """The boot sources: id, url, keyring_filename, keyring_data."""
    with call.store.read() as conn:
        return list_sources(conn)


@sources.action("POST", admin=True)
def add_source(call):  # type: ignore[no-untyped-def]
    """A mirror: url, and keyring_filename (a path on the region) or keyring_data (the
    keyring itself). Without either, only an unsigned index.json is accepted."""
    call.require_admin()
    try:
        with call.store.write() as conn:
            return create_source(conn, call.params.required("url"),
                                 call.params.get("keyring_filename") or "", _keyring(call))
    except ImageError as error:
        raise BadRequest(str(error)) from None


@source.action("GET")
def read_source(call, id):  # type: ignore[no-untyped-def]  # noqa: A002
    """One boot source."""
    with call.store.read() as conn:
        found = get_source(conn, path_id(id, "BootSource"))
    if found is None:
        raise NotFound("No BootSource matches the given query.")
    return found


@source.action("PUT", admin=True)
def update_source_action(call, id):  # type: ignore[no-untyped-def]  # noqa: A002
    """Change url, keyring_filename or keyring_data."""
    call.require_admin()
    values = {}
    if call.params.get("url"):
        values["url"] = call.params.get("url").rstrip("/") + "/"
    if "keyring_filename" in call.params:
        values["keyring_filename"] = call.params.get("keyring_filename") or ""
    if "keyring_data" in call.params or "keyring_data" in call.params.files:
        values["keyring_data"] = _keyring(call)
    try:
        with call.store.write() as conn:
            found = update_source(conn, path_id(id, "BootSource"), **values)
    except ImageError as error:
        raise BadRequest(str(error)) from None
    if found is None:
        raise NotFound("No BootSource matches the given query.")
    return found


@source.action("DELETE", admin=True)
def delete_source_action(call, id):  # type: ignore[no-untyped-def]  # noqa: A002
    """Delete the boot source and its selections."""
    call.require_admin()
    with call.store.write() as conn:
        if not delete_source(conn, path_id(id, "BootSource")):
            raise NotFound("No BootSource matches the given query.")
    return Response(status=204)


@selections.action("GET")
def read_selections(call, boot_source_id):  # type: ignore[no-untyped-def]
    """The selections of the boot source."""
    number = path_id(boot_source_id, "BootSource")
    with call.store.read() as conn:
        if get_source(conn, number) is None:
            raise NotFound("No BootSource matches the given query.")
        return list_selections(conn, number)


@selections.action("POST", admin=True)
def add_selection(call, boot_source_id):  # type: ignore[no-untyped-def]
    """Import os/release: os, release, arches, subarches, labels (each may repeat; '*'
    for all)."""
    call.require_admin()
    number = path_id(boot_source_id, "BootSource")
    p = call.params
    try:
        with call.store.write() as conn:
            if get_source(conn, number) is None:
                raise NotFound("No BootSource matches the given query.")
            return create_selection(conn, number, p.required("os"), p.required("release"),
                                    p.getlist("arches"), p.getlist("subarches"),
                                    p.getlist("labels"))
    except ImageError as error:
        raise Conflict(str(error)) from None


@selection.action("GET")
def read_selection(call, boot_source_id, id):  # type: ignore[no-untyped-def]  # noqa: A002
    """One selection."""
    number = path_id(id, "BootSourceSelection")
    with call.store.read() as conn:
        found = [s for s in list_selections(conn, path_id(boot_source_id, "BootSource"))
                 if s["id"] == number]
    if not found:
        raise NotFound("No BootSourceSelection matches the given query.")
    return found[0]


@selection.action("DELETE", admin=True)
def delete_selection_action(call, boot_source_id, id):  # type: ignore[no-untyped-def]  # noqa: A002
    """Delete the selection."""
    call.require_admin()
    with call.store.write() as conn:
        if not delete_selection(conn, path_id(boot_source_id, "BootSource"),
                                path_id(id, "BootSourceSelection")):
            raise NotFound("No BootSourceSelection matches the given query.")
    return Response(status=204)
