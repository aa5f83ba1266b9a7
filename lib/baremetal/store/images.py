"""Boot resources (images), their sets and files; boot sources and selections; the
progress of image work. The bytes are on disk (`baremetal.images.files`); these rows say
what they are and whether they are complete."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from . import schema as t
from .engine import utcnow

BUSYBOX = "ephemeral"  # the simulated machines' environment (Debian kernel, busybox)
NAME = re.compile(r"^[a-z0-9][a-z0-9.+_-]{0,30}/[a-z0-9][a-z0-9.+_-]{0,30}$|^ephemeral$")
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ARCHITECTURE = re.compile(r"^[a-z0-9_]+/[a-z0-9_.-]+$")


class ImageError(ValueError):
    """Bad image input; the message is for a person."""


@dataclass(frozen=True)
class FileSpec:
    filename: str
    filetype: str
    sha256: str
    size: int


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ImageError(f"name: '{name}' is not an image name like debian/bookworm or "
                         "custom/NAME (lower case letters, digits, '.', '-', '_').")
    return name


def check_architecture(architecture: str) -> str:
    if "/" not in architecture:
        architecture += "/generic"
    if not ARCHITECTURE.match(architecture):
        raise ImageError(f"architecture: '{architecture}' is not like amd64/generic.")
    return architecture


def put_resource(conn: Connection, rtype: str, name: str, architecture: str,
                 title: str = "") -> int:
    """The resource's id, created if new."""
    b = t.boot_resources
    row = conn.execute(select(b.c.id).where(b.c.name == name,
                                            b.c.architecture == architecture)).first()
    now = utcnow()
    if row is not None:
        conn.execute(update(b).where(b.c.id == row.id).values(updated=now, rtype=rtype,
                                                              title=title or name))
        return row.id
    return conn.execute(insert(b).values(rtype=rtype, name=name, architecture=architecture,
                                         title=title or name, created=now, updated=now)
                        ).inserted_primary_key[0]


def add_set(conn: Connection, resource_id: int, version: str, label: str,
            files: list[FileSpec], complete: bool = False) -> tuple[int, dict[str, int]]:
    """A new set (replacing one of the same version) with its files: the set's id and its
    files' ids by name."""
    s, f = t.boot_resource_sets, t.boot_resource_files
    conn.execute(delete(s).where(s.c.resource_id == resource_id, s.c.version == version))
    set_id = conn.execute(insert(s).values(resource_id=resource_id, version=version,
                                           label=label, created=utcnow())
                          ).inserted_primary_key[0]
    ids = {}
    for spec in files:
        if not FILENAME.match(spec.filename):
            raise ImageError(f"filename: '{spec.filename}' is not a plain file name.")
        ids[spec.filename] = conn.execute(insert(f).values(
            set_id=set_id, filename=spec.filename, filetype=spec.filetype,
            sha256=spec.sha256, size=spec.size, received=spec.size if complete else 0,
            complete=complete)).inserted_primary_key[0]
    return set_id, ids


def set_received(conn: Connection, file_id: int, received: int, complete: bool) -> None:
    f = t.boot_resource_files
    conn.execute(update(f).where(f.c.id == file_id).values(received=received,
                                                           complete=complete))


def get_file(conn: Connection, file_id: int) -> Any:
    f, s = t.boot_resource_files, t.boot_resource_sets
    return conn.execute(select(f, s.c.resource_id).join(s, s.c.id == f.c.set_id)
                        .where(f.c.id == file_id)).first()


def keep_newest_sets(conn: Connection, resource_id: int, keep: int = 1) -> list[str]:
    """Drop all but the newest `keep` complete sets (and any incomplete older ones);
    the sha256s no file row refers to any more, to delete from disk."""
    sets = _sets(conn, [resource_id]).get(resource_id, [])
    complete = [s for s in sets if s["complete"]]
    keep_ids = {s["id"] for s in complete[:keep]}
    if complete:
        newest = complete[0]["created"]
        keep_ids |= {s["id"] for s in sets if not s["complete"] and s["created"] >= newest}
    drop = [s["id"] for s in sets if s["id"] not in keep_ids]
    return _drop_sets(conn, drop)


def _drop_sets(conn: Connection, set_ids: list[int]) -> list[str]:
    if not set_ids:
        return []
    f, s = t.boot_resource_files, t.boot_resource_sets
    sha256s = {r.sha256 for r in conn.execute(select(f.c.sha256).where(f.c.set_id.in_(set_ids)))}
    conn.execute(delete(f).where(f.c.set_id.in_(set_ids)))
    conn.execute(delete(s).where(s.c.id.in_(set_ids)))
    return _unreferenced(conn, sha256s)


def _unreferenced(conn: Connection, sha256s: set[str]) -> list[str]:
    f = t.boot_resource_files
    if not sha256s:
        return []
    used = {r.sha256 for r in conn.execute(select(f.c.sha256).where(f.c.sha256.in_(sha256s)))}
    return sorted(sha256s - used)


def drop_unfinished_set(conn: Connection, resource_id: int, set_id: int) -> None:
    """A set that never entered service goes (its files' rows with it), and the resource
    too if that was its only set."""
    s = t.boot_resource_sets
    conn.execute(delete(s).where(s.c.id == set_id))
    if conn.execute(select(s.c.id).where(s.c.resource_id == resource_id)).first() is None:
        conn.execute(delete(t.boot_resources).where(t.boot_resources.c.id == resource_id))


def delete_resource(conn: Connection, resource_id: int) -> list[str] | None:
    """None if there is no such resource; else the sha256s to delete from disk."""
    b, s = t.boot_resources, t.boot_resource_sets
    if conn.execute(select(b.c.id).where(b.c.id == resource_id)).first() is None:
        return None
    set_ids = [r.id for r in conn.execute(select(s.c.id).where(s.c.resource_id == resource_id))]
    gone = _drop_sets(conn, set_ids)
    conn.execute(delete(b).where(b.c.id == resource_id))
    return gone


def _sets(conn: Connection, resource_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each resource's sets, newest first, with their files (two queries)."""
    s, f = t.boot_resource_sets, t.boot_resource_files
    if not resource_ids:
        return {}
    sets = conn.execute(select(s).where(s.c.resource_id.in_(resource_ids))
                        .order_by(s.c.created.desc(), s.c.id.desc())).all()
    files = conn.execute(select(f).where(f.c.set_id.in_([x.id for x in sets]))
                         .order_by(f.c.id)).all() if sets else []
    by_set: dict[int, list[Any]] = {}
    for row in files:
        by_set.setdefault(row.set_id, []).append(row)
    out: dict[int, list[dict[str, Any]]] = {}
    for row in sets:
        members = by_set.get(row.id, [])
        out.setdefault(row.resource_id, []).append({
            "id": row.id, "version": row.version, "label": row.label, "created": row.created,
            "size": sum(x.size for x in members),
            "complete": bool(members) and all(x.complete for x in members),
            "progress": (sum(x.received for x in members) / max(1, sum(x.size for x in members))
                         * 100),
            "files": {x.filename: {"id": x.id, "filename": x.filename, "filetype": x.filetype,
                                   "sha256": x.sha256, "size": x.size,
                                   "complete": bool(x.complete), "received": x.received}
                      for x in members}})
    return out


def list_resources(conn: Connection, *where: Any) -> list[dict[str, Any]]:
    """The resources (every one, or those `where` selects) with their sets (newest first)
    and files: three queries."""
    b = t.boot_resources
    rows = conn.execute(select(b).where(*where).order_by(b.c.id)).all()
    sets = _sets(conn, [r.id for r in rows])
    return [{"id": r.id, "rtype": r.rtype, "name": r.name, "architecture": r.architecture,
             "title": r.title, "updated": r.updated, "sets": sets.get(r.id, [])} for r in rows]


def get_resource(conn: Connection, resource_id: int) -> dict[str, Any] | None:
    found = list_resources(conn, t.boot_resources.c.id == resource_id)
    return found[0] if found else None


def newest_complete(resource: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in resource["sets"] if s["complete"]), None)


def serving_files(conn: Connection) -> list[dict[str, Any]]:
    """What racks hold: the files of each resource's newest complete set."""
    out = []
    for resource in list_resources(conn):
        found = newest_complete(resource)
        if found is None:
            continue
        for file in found["files"].values():
            out.append({"id": file["id"], "architecture": resource["architecture"],
                        "name": resource["name"], "filename": file["filename"],
                        "filetype": file["filetype"], "sha256": file["sha256"],
                        "size": file["size"]})
    return out


def boot_files(conn: Connection, name: str, arch: str) -> dict[str, str] | None:
    """{filetype: filename} of the newest complete set of `name` for the architecture
    (`amd64`), if it has a kernel and an initrd; else None."""
    b = t.boot_resources
    for resource in list_resources(conn, b.c.name == name,
                                   b.c.architecture.like(f"{arch}/%")):
        found = newest_complete(resource)
        if found is None:
            continue
        types = {f["filetype"]: f["filename"] for f in found["files"].values()}
        if "boot-kernel" in types and "boot-initrd" in types:
            return types
    return None


def available_names(conn: Connection) -> list[str]:
    """Names of deployable images (a complete set; not the busybox environment)."""
    b, s, f = t.boot_resources, t.boot_resource_sets, t.boot_resource_files
    incomplete = select(f.c.set_id).where(f.c.complete.is_(False))
    rows = conn.execute(select(b.c.name).join(s, s.c.resource_id == b.c.id)
                        .where(b.c.name != BUSYBOX, s.c.id.not_in(incomplete))
                        .group_by(b.c.name).order_by(b.c.name)).all()
    return [r.name for r in rows]


def image_states(conn: Connection) -> list[dict[str, Any]]:
    """Each image with its state (ready once a set is complete), the serving version and
    size, and the progress of a version on its way: for the web UI."""
    out = []
    for item in list_resources(conn):
        serving = newest_complete(item)
        pending = item["sets"][0] if item["sets"] and not item["sets"][0]["complete"] else None
        out.append({"id": item["id"], "name": item["name"], "type": item["rtype"],
                    "architecture": item["architecture"],
                    "size": serving["size"] if serving else 0,
                    "version": serving["version"] if serving else "",
                    "state": "ready" if serving else "incomplete",
                    "progress": round(pending["progress"], 1) if pending else None})
    return out


# Progress of image work.

def start_activity(conn: Connection, name: str, step: str = "starting",
                   total_bytes: int = 0) -> bool:
    """Mark `name` running; False if it already is (someone else is doing it)."""
    a = t.image_activity
    now = utcnow()
    row = conn.execute(select(a.c.state).where(a.c.name == name)).first()
    if row is not None and row.state in ("running", "stopping"):
        return False
    values = {"state": "running", "step": step, "done_bytes": 0, "total_bytes": total_bytes,
              "message": "", "started": now, "updated": now}
    if row is None:
        conn.execute(insert(a).values(name=name, **values))
    else:
        conn.execute(update(a).where(a.c.name == name).values(**values))
    return True


def update_activity(conn: Connection, name: str, **values: Any) -> str | None:
    """Record progress; the current state (so a worker sees `stopping`)."""
    a = t.image_activity
    conn.execute(update(a).where(a.c.name == name).values(updated=utcnow(), **values))
    row = conn.execute(select(a.c.state).where(a.c.name == name)).first()
    return None if row is None else row.state


def _plain(row: Any) -> dict[str, Any]:
    # Column names are str subclasses (quoted_name), which orjson refuses as keys.
    return {str(key): value for key, value in row._asdict().items()}


def get_activity(conn: Connection, name: str) -> dict[str, Any] | None:
    a = t.image_activity
    row = conn.execute(select(a).where(a.c.name == name)).first()
    return None if row is None else _plain(row)


def list_activity(conn: Connection) -> list[dict[str, Any]]:
    a = t.image_activity
    return [_plain(r) for r in conn.execute(select(a).order_by(a.c.name))]


def request_stop(conn: Connection, name: str) -> bool:
    a = t.image_activity
    return conn.execute(update(a).where(a.c.name == name, a.c.state == "running")
                        .values(state="stopping", updated=utcnow())).rowcount == 1


# Boot sources and selections.

def _source_json(row: Any) -> dict[str, Any]:
    import base64

    return {"id": row.id, "url": row.url, "keyring_filename": row.keyring_filename,
            "keyring_data": base64.b64encode(bytes(row.keyring_data)).decode(),
            "created": row.created.isoformat(), "updated": row.updated.isoformat(),
            "resource_uri": f"/MAAS/api/2.0/boot-sources/{row.id}/"}


def create_source(conn: Connection, url: str, keyring_filename: str = "",
                  keyring_data: bytes = b"") -> dict[str, Any]:
    if not re.match(r"^(https?|file)://\S+$", url):
        raise ImageError(f"url: '{url}' is not an http(s):// or file:// URL.")
    now = utcnow()
    source_id = conn.execute(insert(t.boot_sources).values(
        url=url.rstrip("/") + "/", keyring_filename=keyring_filename,
        keyring_data=keyring_data, created=now, updated=now)).inserted_primary_key[0]
    return get_source(conn, source_id)  # type: ignore[return-value]


def get_source(conn: Connection, source_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(t.boot_sources).where(t.boot_sources.c.id == source_id)).first()
    return None if row is None else _source_json(row)


def source_keyring(conn: Connection, source_id: int) -> tuple[str, bytes, str]:
    row = conn.execute(select(t.boot_sources).where(t.boot_sources.c.id == source_id)).one()
    return row.url, bytes(row.keyring_data), row.keyring_filename


def list_sources(conn: Connection) -> list[dict[str, Any]]:
    return [_source_json(r) for r in conn.execute(select(t.boot_sources)
                                                  .order_by(t.boot_sources.c.id))]


def update_source(conn: Connection, source_id: int, **values: Any) -> dict[str, Any] | None:
    if "url" in values and not re.match(r"^(https?|file)://\S+$", values["url"]):
        raise ImageError(f"url: '{values['url']}' is not an http(s):// or file:// URL.")
    conn.execute(update(t.boot_sources).where(t.boot_sources.c.id == source_id)
                 .values(updated=utcnow(), **values))
    return get_source(conn, source_id)


def delete_source(conn: Connection, source_id: int) -> bool:
    return conn.execute(delete(t.boot_sources).where(t.boot_sources.c.id == source_id)
                        ).rowcount == 1


def _selection_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "boot_source_id": row.boot_source_id, "os": row.os,
            "release": row.release, "arches": list(row.arches),
            "subarches": list(row.subarches), "labels": list(row.labels),
            "resource_uri": f"/MAAS/api/2.0/boot-sources/{row.boot_source_id}/selections/"
                            f"{row.id}/"}


def create_selection(conn: Connection, source_id: int, os: str, release: str,
                     arches: list[str], subarches: list[str],
                     labels: list[str]) -> dict[str, Any]:
    sel = t.boot_source_selections
    if conn.execute(select(sel.c.id).where(sel.c.boot_source_id == source_id, sel.c.os == os,
                                           sel.c.release == release)).first() is not None:
        raise ImageError(f"Boot source selection with this Boot source, Os and Release "
                         f"already exists ({os}/{release}).")
    selection_id = conn.execute(insert(sel).values(
        boot_source_id=source_id, os=os, release=release, arches=arches or ["*"],
        subarches=subarches or ["*"], labels=labels or ["*"])).inserted_primary_key[0]
    return _selection_json(conn.execute(select(sel).where(sel.c.id == selection_id)).one())


def list_selections(conn: Connection, source_id: int | None = None) -> list[dict[str, Any]]:
    sel = t.boot_source_selections
    query = select(sel).order_by(sel.c.id)
    if source_id is not None:
        query = query.where(sel.c.boot_source_id == source_id)
    return [_selection_json(r) for r in conn.execute(query)]


def delete_selection(conn: Connection, source_id: int, selection_id: int) -> bool:
    sel = t.boot_source_selections
    return conn.execute(delete(sel).where(sel.c.id == selection_id,
                                          sel.c.boot_source_id == source_id)).rowcount == 1
