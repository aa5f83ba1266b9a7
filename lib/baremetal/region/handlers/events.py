"""events/?op=query: the event log, newest first, filtered and paged."""

from __future__ import annotations

from urllib.parse import urlencode

from baremetal.store.catalog import query_events
from baremetal.store.listing import machine_ids

from ..errors import BadRequest
from ..registry import API_ROOT, registry
from .machines import machine_filter

events = registry.resource("EventsHandler", "/events/", "The event log.")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "AUDIT")


@events.action("GET", "query")
def query(call):  # type: ignore[no-untyped-def]
    """Events for the machines the caller may see: id, hostname, mac_address, zone,
    agent_name, owner (machine filters), level, limit (at most 1000), before, after."""
    p = call.params
    limit = p.integer("limit", 100, minimum=1)
    limit = min(limit, 1000)
    level = (p.get("level") or "").upper() or None
    if level is not None and level not in LEVELS:
        raise BadRequest(f"level: must be one of {', '.join(LEVELS)}.")
    after, before = p.integer("after", minimum=0), p.integer("before", minimum=0)
    where = machine_filter(p)
    filtered = any((where.system_ids, where.hostnames, where.mac_addresses, where.zones,
                    where.agent_name is not None, where.owners))
    with call.store.read() as conn:
        ids = None
        if filtered or not call.viewer.is_superuser:
            ids = list(conn.execute(machine_ids(call.viewer, where)).scalars())
        rows = query_events(conn, machine_ids=ids, limit=limit, after=after, before=before,
                            level=level)
    found = [{
        "id": r.id, "node": r.system_id, "hostname": r.hostname, "username": r.username,
        "level": r.level, "created": r.created.strftime("%a, %d %b. %Y %H:%M:%S"),
        "type": r.type, "description": r.description,
    } for r in rows]
    base = {k: v for k, v in p.data.items() if k not in ("after", "before")}
    result = {"count": len(found), "events": found, "next_uri": None, "prev_uri": None}
    if found:
        newest, oldest = max(e["id"] for e in found), min(e["id"] for e in found)
        result["prev_uri"] = f"{API_ROOT}/events/?op=query&" + urlencode(
            {**base, "before": oldest}, doseq=True)
        result["next_uri"] = f"{API_ROOT}/events/?op=query&" + urlencode(
            {**base, "after": newest}, doseq=True)
    return result
