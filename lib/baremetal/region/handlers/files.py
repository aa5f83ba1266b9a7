"""files/: opaque per-user blobs; Juju keeps its provider state here."""

from __future__ import annotations

import base64

from flask import Response

from baremetal.store.catalog import delete_file, file_by_key, get_file, list_files, put_file

from ..errors import BadRequest, NotFound
from ..registry import API_ROOT, registry

files = registry.resource("FilesHandler", "/files/", "Manage the caller's files.")
file = registry.resource("FileHandler", "/files/{filename}/", "One file.")


def _summary(filename: str, anon_key: str) -> dict:
    return {"filename": filename, "resource_uri": f"{API_ROOT}/files/{filename}/",
            "anon_resource_uri": f"{API_ROOT}/files/?op=get_by_key&key={anon_key}"}


@files.action("GET")
def read_files(call):  # type: ignore[no-untyped-def]
    """The caller's files, optionally those whose name starts with prefix."""
    with call.store.read() as conn:
        rows = list_files(conn, call.viewer.id, call.params.get("prefix") or "")
    return [_summary(r.filename, r.anon_key) for r in rows]


def _add(call):  # type: ignore[no-untyped-def]
    """Store a file: filename, and the content as the multipart part `file`."""
    filename = call.params.required("filename")
    if "/" in filename or len(filename) > 255:
        raise BadRequest("filename: must not contain '/' and be at most 255 characters.")
    content = call.params.files.get("file")
    if content is None:
        raise BadRequest("file: upload the content as a multipart part named 'file'.")
    with call.store.write() as conn:
        put_file(conn, call.viewer.id, filename, content)
    return Response(status=201)


files.action("POST")(_add)
files.action("POST", "add")(_add)


@files.action("GET", "get")
def get_raw(call):  # type: ignore[no-untyped-def]
    """The raw content of filename."""
    filename = call.params.required("filename")
    with call.store.read() as conn:
        row = get_file(conn, call.viewer.id, filename)
    if row is None:
        raise NotFound("File not found")
    return Response(row.content, mimetype="application/octet-stream")


@files.action("GET", "get_by_key", anonymous=True)
def get_by_key(call):  # type: ignore[no-untyped-def]
    """The raw content of the file with this anonymous key (the `anon_resource_uri` a file
    advertises): no credentials needed, the key is the secret."""
    key = call.params.required("key")
    with call.store.read() as conn:
        row = file_by_key(conn, key)
    if row is None:
        raise NotFound("File not found")
    return Response(row.content, mimetype="application/octet-stream")


@file.action("GET")
def read_file(call, filename):  # type: ignore[no-untyped-def]
    """The file, its content base64 encoded; 404 when absent."""
    with call.store.read() as conn:
        row = get_file(conn, call.viewer.id, filename)
    if row is None:
        raise NotFound("File not found")
    return {**_summary(row.filename, row.anon_key),
            "content": base64.b64encode(row.content).decode()}


@file.action("DELETE")
def delete_file_action(call, filename):  # type: ignore[no-untyped-def]
    """Delete the file."""
    with call.store.write() as conn:
        if not delete_file(conn, call.viewer.id, filename):
            raise NotFound("File not found")
    return Response(status=204)
