"""API tokens (OAuth 1 keys as MAAS forms them) and password log-in."""

from __future__ import annotations

import hmac
import secrets
import string

from sqlalchemy import Connection, delete, insert, select

from baremetal.models import ApiToken, User

from . import schema as t
from .engine import utcnow
from .references import verify_password

_ALPHABET = string.ascii_letters + string.digits


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _user(row) -> User:  # type: ignore[no-untyped-def]
    return User(id=row.id, username=row.username, email=row.email,
                is_superuser=row.is_superuser, is_local=row.is_local)


def _token(row) -> ApiToken:  # type: ignore[no-untyped-def]
    return ApiToken(id=row.id, user_id=row.user_id, name=row.name,
                    consumer_key=row.consumer_key, token_key=row.token_key,
                    token_secret=row.token_secret)


def create_token(conn: Connection, user_id: int, name: str = "") -> ApiToken:
    """A new key: 18-character consumer and token keys and a 32-character secret."""
    values = {"user_id": user_id, "name": name, "consumer_key": _random(18),
              "token_key": _random(18), "token_secret": _random(32), "created": utcnow()}
    token_id = conn.execute(insert(t.api_tokens).values(**values)).inserted_primary_key[0]
    return ApiToken(id=token_id, **values)


def list_tokens(conn: Connection, user_id: int) -> list[ApiToken]:
    rows = conn.execute(
        select(t.api_tokens).where(t.api_tokens.c.user_id == user_id).order_by(t.api_tokens.c.id)
    )
    return [_token(row) for row in rows]


def delete_token(conn: Connection, user_id: int, token_key: str) -> bool:
    result = conn.execute(delete(t.api_tokens).where(
        t.api_tokens.c.user_id == user_id, t.api_tokens.c.token_key == token_key))
    return result.rowcount > 0


def user_for_token(
    conn: Connection, consumer_key: str, token_key: str, token_secret: str
) -> User | None:
    """The user whose key this is, or None; the secret is compared in constant time."""
    row = conn.execute(
        select(t.users, t.api_tokens.c.consumer_key, t.api_tokens.c.token_secret)
        .join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
        .where(t.api_tokens.c.token_key == token_key)
    ).first()
    if row is None or row.consumer_key != consumer_key:
        return None
    if not hmac.compare_digest(row.token_secret.encode(), token_secret.encode()):
        return None
    return _user(row)


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    row = conn.execute(select(t.users).where(t.users.c.username == username)).first()
    if row is None or not row.password_hash or not verify_password(password, row.password_hash):
        return None
    return _user(row)


def list_users(conn: Connection) -> list[User]:
    return [_user(row) for row in conn.execute(select(t.users).order_by(t.users.c.id))]


def get_user_by_id(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
    return None if row is None else _user(row)
