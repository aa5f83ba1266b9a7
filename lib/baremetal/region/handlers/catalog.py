"""zones/, resourcepools/ (and pools/), tags/: the names machines are filed under."""

from __future__ import annotations

import re

from flask import Response
from sqlalchemy.exc import IntegrityError

from baremetal.store import schema as t
from baremetal.store.catalog import (
    delete_tag,
    delete_zone,
    get_pool,
    get_tag,
    get_zone,
    list_pools,
    list_tags,
    list_zones,
    machine_ids_for,
    machines_in,
    tag_machines,
    update_tag,
    update_zone,
)
from baremetal.store.listing import MachineFilter
from baremetal.store.references import create_pool, create_tag, create_zone

from ..errors import BadRequest, Conflict, NotFound
from ..registry import registry
from ..render import pool_json, tag_json, zone_json
from .machines import list_machines

_NAME = re.compile(r"^[\w-]{1,256}$")

zones = registry.resource("ZonesHandler", "/zones/", "Manage availability zones.")
zone = registry.resource("ZoneHandler", "/zones/{name}/", "One availability zone.")
pools = registry.resource("ResourcePoolsHandler", "/resourcepools/", "Manage resource pools.")
pool = registry.resource("ResourcePoolHandler", "/resourcepool/{id}/", "One resource pool.")
# gomaasapi asks pools/ as well.
pools_alias = registry.resource("PoolsHandler", "/pools/", "Resource pools (alias).")
tags = registry.resource("TagsHandler", "/tags/", "Manage tags.")
tag = registry.resource("TagHandler", "/tags/{name}/", "One tag.")


def _valid_name(field: str, value: str) -> str:
    if not _NAME.match(value):
        raise BadRequest(f"{field}: '{value}' is not a valid name "
                         "(letters, digits, '-' and '_', at most 256).")
    return value


def _create(call, create, field: str = "name"):  # type: ignore[no-untyped-def]
    name = _valid_name(field, call.params.required(field))
    try:
        with call.store.write() as conn:
            return create(conn, name)
    except IntegrityError:
        raise BadRequest(f"{field}: '{name}' already exists.") from None


@zones.action("GET")
def read_zones(call):  # type: ignore[no-untyped-def]
    """All zones."""
    with call.store.read() as conn:
        return [zone_json(z) for z in list_zones(conn)]


@zones.action("POST", admin=True)
def create_zone_action(call):  # type: ignore[no-untyped-def]
    """Create a zone: name, description."""
    description = call.params.get("description") or ""
    return zone_json(_create(call, lambda conn, name: create_zone(conn, name, description)))


def _zone(conn, name):  # type: ignore[no-untyped-def]
    found = get_zone(conn, name)
    if found is None:
        raise NotFound("No Zone matches the given query.")
    return found


@zone.action("GET")
def read_zone(call, name):  # type: ignore[no-untyped-def]
    """One zone."""
    with call.store.read() as conn:
        return zone_json(_zone(conn, name))


@zone.action("PUT", admin=True)
def update_zone_action(call, name):  # type: ignore[no-untyped-def]
    """Change a zone's description."""
    with call.store.write() as conn:
        found = _zone(conn, name)
        if "description" in call.params:
            update_zone(conn, found.id, description=call.params.get("description") or "")
        return zone_json(_zone(conn, name))


@zone.action("DELETE", admin=True)
def delete_zone_action(call, name):  # type: ignore[no-untyped-def]
    """Delete an empty zone (not the default one)."""
    with call.store.write() as conn:
        found = _zone(conn, name)
        if found.name == "default":
            raise BadRequest("The default zone cannot be deleted.")
        if machines_in(conn, t.machines.c.zone_id, found.id):
            raise Conflict(f"Zone '{name}' still has machines: move them first.")
        delete_zone(conn, found.id)
    return Response(status=204)


def _read_pools(call):  # type: ignore[no-untyped-def]
    """All resource pools."""
    with call.store.read() as conn:
        return [pool_json(p) for p in list_pools(conn)]


def _create_pool(call):  # type: ignore[no-untyped-def]
    """Create a resource pool: name, description."""
    description = call.params.get("description") or ""
    return pool_json(_create(call, lambda conn, name: create_pool(conn, name, description)))


for collection in (pools, pools_alias):
    collection.action("GET")(_read_pools)
    collection.action("POST", admin=True)(_create_pool)


@pool.action("GET")
def read_pool(call, id):  # type: ignore[no-untyped-def]  # noqa: A002
    """One resource pool."""
    try:
        pool_id = int(id)
    except ValueError:
        raise NotFound("No ResourcePool matches the given query.") from None
    with call.store.read() as conn:
        found = get_pool(conn, pool_id)
    if found is None:
        raise NotFound("No ResourcePool matches the given query.")
    return pool_json(found)


@tags.action("GET")
def read_tags(call):  # type: ignore[no-untyped-def]
    """All tags."""
    with call.store.read() as conn:
        return [tag_json(x) for x in list_tags(conn)]


@tags.action("POST", admin=True)
def create_tag_action(call):  # type: ignore[no-untyped-def]
    """Create a tag: name, comment, definition (kept, not evaluated), kernel_opts."""
    p = call.params
    created = _create(call, lambda conn, name: create_tag(
        conn, name, p.get("comment") or "", p.get("definition") or ""))
    if p.get("kernel_opts"):
        with call.store.write() as conn:
            update_tag(conn, created.id, kernel_opts=p.get("kernel_opts"))
            created = get_tag(conn, created.name)
    return tag_json(created)


def _tag(conn, name):  # type: ignore[no-untyped-def]
    found = get_tag(conn, name)
    if found is None:
        raise NotFound("No Tag matches the given query.")
    return found


@tag.action("GET")
def read_tag(call, name):  # type: ignore[no-untyped-def]
    """One tag."""
    with call.store.read() as conn:
        return tag_json(_tag(conn, name))


@tag.action("PUT", admin=True)
def update_tag_action(call, name):  # type: ignore[no-untyped-def]
    """Change comment, definition or kernel_opts."""
    p = call.params
    values = {k: p.get(k) or "" for k in ("comment", "definition", "kernel_opts") if k in p}
    with call.store.write() as conn:
        found = _tag(conn, name)
        if values:
            update_tag(conn, found.id, **values)
        return tag_json(_tag(conn, name))


@tag.action("DELETE", admin=True)
def delete_tag_action(call, name):  # type: ignore[no-untyped-def]
    """Delete the tag (machines keep everything else)."""
    with call.store.write() as conn:
        delete_tag(conn, _tag(conn, name).id)
    return Response(status=204)


@tag.action("POST", "update_nodes", admin=True)
def update_nodes(call, name):  # type: ignore[no-untyped-def]
    """Tag machines (add=system_id, repeated) and untag others (remove=...)."""
    add, remove = call.params.getlist("add"), call.params.getlist("remove")
    with call.store.write() as conn:
        found = _tag(conn, name)
        ids = machine_ids_for(conn, add + remove)
        unknown = sorted(set(add + remove) - set(ids))
        if unknown:
            raise BadRequest(f"Unknown machine(s): {', '.join(unknown)}.")
        tag_machines(conn, found.id, [ids[s] for s in add], [ids[s] for s in remove])
    return {"added": len(add), "removed": len(remove)}


@tag.action("GET", "machines")
def tagged_machines(call, name):  # type: ignore[no-untyped-def]
    """The machines with this tag that the caller may see."""
    with call.store.read() as conn:
        _tag(conn, name)
    return list_machines(call, MachineFilter(tags=(name,)))
