"""Static routes between subnets (MAAS's `static-routes/`)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from . import schema as t
from .references import find_subnet


class RouteError(ValueError):
    """Bad route input; the message is for a person."""


def _subnet(conn: Connection, value: str | int | None, field: str) -> Any:
    if value in (None, ""):
        raise RouteError(f"{field}: This field is required.")
    row = find_subnet(conn, value)
    if row is None:
        raise RouteError(f"{field}: no subnet '{value}'.")
    return row


def _check(conn: Connection, source: Any, destination: Any, gateway_ip: str,
           metric: int) -> str:
    if source.id == destination.id:
        raise RouteError("destination: a route goes to another subnet than its source.")
    try:
        gateway = ipaddress.ip_address(gateway_ip)
    except ValueError:
        raise RouteError(f"gateway_ip: '{gateway_ip}' is not an IP address.") from None
    if gateway not in ipaddress.ip_network(source.cidr, strict=False):
        raise RouteError(f"gateway_ip: {gateway_ip} is not in the source subnet "
                         f"{source.cidr}.")
    if not 0 <= metric <= 2**31 - 1:
        raise RouteError("metric: must be 0 or more.")
    return str(gateway)


def create_route(conn: Connection, source: str | int | None, destination: str | int | None,
                 gateway_ip: str, metric: int = 0) -> dict[str, Any]:
    src = _subnet(conn, source, "source")
    dst = _subnet(conn, destination, "destination")
    gateway = _check(conn, src, dst, gateway_ip, metric)
    r = t.static_routes
    if conn.execute(select(r.c.id).where(r.c.source_id == src.id, r.c.destination_id == dst.id,
                                         r.c.gateway_ip == gateway)).first() is not None:
        raise RouteError(f"A route from {src.cidr} to {dst.cidr} via {gateway} exists.")
    route_id = conn.execute(insert(r).values(source_id=src.id, destination_id=dst.id,
                                             gateway_ip=gateway, metric=metric)
                            ).inserted_primary_key[0]
    return {"id": route_id}


def update_route(conn: Connection, route_id: int, **values: Any) -> bool:
    r = t.static_routes
    row = conn.execute(select(r).where(r.c.id == route_id)).first()
    if row is None:
        return False
    src = _subnet(conn, values.get("source") or row.source_id, "source")
    dst = _subnet(conn, values.get("destination") or row.destination_id, "destination")
    metric = row.metric if values.get("metric") is None else int(values["metric"])
    gateway = _check(conn, src, dst, values.get("gateway_ip") or row.gateway_ip, metric)
    conn.execute(update(r).where(r.c.id == route_id).values(
        source_id=src.id, destination_id=dst.id, gateway_ip=gateway, metric=metric))
    return True


def delete_route(conn: Connection, route_id: int) -> bool:
    r = t.static_routes
    return conn.execute(delete(r).where(r.c.id == route_id)).rowcount == 1


def list_routes(conn: Connection) -> list[Any]:
    r = t.static_routes
    return conn.execute(select(r).order_by(r.c.id)).all()


def routes_by_source(conn: Connection) -> dict[int, list[tuple[str, str, int]]]:
    """source subnet id -> [(destination CIDR, gateway, metric)], for rendering."""
    r, s = t.static_routes, t.subnets
    out: dict[int, list[tuple[str, str, int]]] = {}
    for row in conn.execute(select(r.c.source_id, s.c.cidr, r.c.gateway_ip, r.c.metric)
                            .join(s, s.c.id == r.c.destination_id).order_by(r.c.id)):
        out.setdefault(row.source_id, []).append((row.cidr, row.gateway_ip, row.metric))
    return out
