"""Zones, pools, domains, tags, users and the network objects machines refer to."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from baremetal.models import VLAN, Domain, ResourcePool, Subnet, Tag, User, Zone

from . import schema as t
from .engine import utcnow

DEFAULT_ZONE = "default"
DEFAULT_POOL = "default"
DEFAULT_DOMAIN = "maas"
DEFAULT_FABRIC = "fabric-0"


def ensure_defaults(conn: Connection) -> None:
    """The objects every MAAS has from the start: default zone, pool, domain and fabric."""
    for table, row in (
        (t.zones, {"name": DEFAULT_ZONE, "description": ""}),
        (t.resource_pools, {"name": DEFAULT_POOL, "description": "Default pool"}),
        (t.domains, {"name": DEFAULT_DOMAIN, "ttl": None, "authoritative": True,
                     "is_default": True}),
        (t.fabrics, {"name": DEFAULT_FABRIC, "class_type": None}),
    ):
        if conn.execute(select(table.c.id).where(table.c.name == row["name"])).first() is None:
            conn.execute(insert(table).values(**row))
    fabric_id = _id_by_name(conn, t.fabrics, DEFAULT_FABRIC)
    untagged = select(t.vlans.c.id).where(t.vlans.c.fabric_id == fabric_id, t.vlans.c.vid == 0)
    if conn.execute(untagged).first() is None:
        conn.execute(insert(t.vlans).values(fabric_id=fabric_id, vid=0, name="untagged",
                                            mtu=1500, dhcp_on=False))


def _id_by_name(conn: Connection, table, name: str) -> int:  # type: ignore[no-untyped-def]
    row = conn.execute(select(table.c.id).where(table.c.name == name)).first()
    if row is None:
        raise LookupError(f"No {table.name} named '{name}'.")
    return row.id


def ids_by_name(conn: Connection, table, names: Iterable[str]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    wanted = set(names)
    if not wanted:
        return {}
    rows = conn.execute(select(table.c.name, table.c.id).where(table.c.name.in_(wanted)))
    return {row.name: row.id for row in rows}


def create_zone(conn: Connection, name: str, description: str = "") -> Zone:
    zone_id = conn.execute(
        insert(t.zones).values(name=name, description=description)
    ).inserted_primary_key[0]
    return Zone(id=zone_id, name=name, description=description)


def create_pool(conn: Connection, name: str, description: str = "") -> ResourcePool:
    pool_id = conn.execute(
        insert(t.resource_pools).values(name=name, description=description)
    ).inserted_primary_key[0]
    return ResourcePool(id=pool_id, name=name, description=description)


def create_tag(conn: Connection, name: str, comment: str = "", definition: str = "") -> Tag:
    tag_id = conn.execute(
        insert(t.tags).values(name=name, comment=comment, definition=definition, kernel_opts="")
    ).inserted_primary_key[0]
    return Tag(id=tag_id, name=name, comment=comment, definition=definition)


def create_vlan(conn: Connection, fabric: str, vid: int, mtu: int = 1500,
                space: str | None = None) -> int:
    fabric_ids = ids_by_name(conn, t.fabrics, [fabric])
    fabric_id = fabric_ids.get(fabric) or conn.execute(
        insert(t.fabrics).values(name=fabric)).inserted_primary_key[0]
    space_id = _ensure_space(conn, space)
    return conn.execute(insert(t.vlans).values(
        fabric_id=fabric_id, vid=vid, mtu=mtu, dhcp_on=False, space_id=space_id,
    )).inserted_primary_key[0]


def _ensure_space(conn: Connection, space: str | None) -> int | None:
    if space is None:
        return None
    found = ids_by_name(conn, t.spaces, [space])
    if space in found:
        return found[space]
    return conn.execute(insert(t.spaces).values(name=space, description="")).inserted_primary_key[0]


def create_subnet(conn: Connection, cidr: str, vlan_id: int, name: str | None = None,
                  space: str | None = None, gateway_ip: str | None = None) -> int:
    return conn.execute(insert(t.subnets).values(
        name=name or cidr, cidr=cidr, vlan_id=vlan_id, space_id=_ensure_space(conn, space),
        gateway_ip=gateway_ip, dns_servers=[],
    )).inserted_primary_key[0]


def find_subnet(conn: Connection, ref: str | int):  # type: ignore[no-untyped-def]
    """The subnet row a client names by id, CIDR or name (None if none), as MAAS's API
    accepts all three wherever a subnet is asked for."""
    s, text = t.subnets, str(ref)
    return conn.execute(select(s).where(
        (s.c.cidr == text) | (s.c.name == text)
        | (s.c.id == (int(text) if text.isdigit() else -1)))).first()


def network_index(conn: Connection) -> tuple[dict[int, VLAN], dict[int, Subnet]]:
    """Every VLAN and subnet as models, keyed by id: two queries, reused for many machines."""
    vlan_rows = conn.execute(
        select(t.vlans, t.fabrics.c.name.label("fabric_name"),
               t.spaces.c.name.label("space_name"))
        .join(t.fabrics, t.vlans.c.fabric_id == t.fabrics.c.id)
        .outerjoin(t.spaces, t.vlans.c.space_id == t.spaces.c.id)
    )
    vlans = {
        row.id: VLAN(
            id=row.id, fabric_id=row.fabric_id, fabric=row.fabric_name, vid=row.vid,
            name=row.name, mtu=row.mtu, dhcp_on=row.dhcp_on, primary_rack=row.primary_rack,
            secondary_rack=row.secondary_rack, space=row.space_name,
        )
        for row in vlan_rows
    }
    subnets = {
        row.id: Subnet(
            id=row.id, name=row.name, cidr=row.cidr, vlan=vlans[row.vlan_id],
            space=row.space_name, gateway_ip=row.gateway_ip,
            dns_servers=list(row.dns_servers or []),
        )
        for row in conn.execute(
            select(t.subnets, t.spaces.c.name.label("space_name"))
            .outerjoin(t.spaces, t.subnets.c.space_id == t.spaces.c.id))
    }
    return vlans, subnets


# Users. Passwords are stored as salted PBKDF2-SHA256; never logged, never returned.
_PBKDF2_ROUNDS = 240_000


def hash_password(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), _PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${_PBKDF2_ROUNDS}${salt}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algorithm, rounds, salt, expected = stored.split("$")
    except ValueError:
        return False
    if algorithm != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(rounds))
    return hmac.compare_digest(digest.hex(), expected)


def create_user(conn: Connection, username: str, password: str = "", email: str = "",
                is_superuser: bool = False) -> User:
    user_id = conn.execute(insert(t.users).values(
        username=username, email=email,
        password_hash=hash_password(password) if password else "",
        is_superuser=is_superuser, is_local=True, created=utcnow(),
    )).inserted_primary_key[0]
    return User(id=user_id, username=username, email=email, is_superuser=is_superuser)


def get_user(conn: Connection, username: str) -> User | None:
    row = conn.execute(select(t.users).where(t.users.c.username == username)).first()
    if row is None:
        return None
    return User(id=row.id, username=row.username, email=row.email,
                is_superuser=row.is_superuser, is_local=row.is_local)


def default_domain(conn: Connection) -> Domain:
    row = conn.execute(select(t.domains).where(t.domains.c.is_default.is_(True))).first()
    if row is None:
        raise LookupError("No default domain: run ensure_defaults first.")
    return Domain(id=row.id, name=row.name, ttl=row.ttl, authoritative=row.authoritative,
                  is_default=True)
