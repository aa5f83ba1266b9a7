"""users/ (whoami, listing, creating) and account/ (the caller's API keys)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from baremetal.store.accounts import create_token, delete_token, list_tokens, list_users
from baremetal.store.references import create_user, get_user

from ..errors import BadRequest, NotFound
from ..registry import registry
from ..render import user_json

users = registry.resource("UsersHandler", "/users/", "Manage the user accounts.")
user = registry.resource("UserHandler", "/users/{username}/", "One user account.")
account = registry.resource("AccountHandler", "/account/", "The caller's own account.")


@users.action("GET", "whoami")
def whoami(call):  # type: ignore[no-untyped-def]
    """The user making the request."""
    return user_json(call.viewer)


@users.action("GET", admin=True)
def read_users(call):  # type: ignore[no-untyped-def]
    """All users."""
    with call.store.read() as conn:
        return [user_json(u) for u in list_users(conn)]


@users.action("POST", admin=True)
def create_user_action(call):  # type: ignore[no-untyped-def]
    """Create a user: username, email, password, is_superuser."""
    username = call.params.required("username")
    password = call.params.required("password")
    try:
        with call.store.write() as conn:
            created = create_user(conn, username, password, call.params.get("email") or "",
                                  is_superuser=call.params.boolean("is_superuser"))
    except IntegrityError:
        raise BadRequest(f"username: a user named '{username}' already exists.") from None
    return user_json(created)


@user.action("GET")
def read_user(call, username):  # type: ignore[no-untyped-def]
    """One user; non-admins may read only themselves."""
    viewer = call.viewer
    if username != viewer.username:
        call.require_admin()
    with call.store.read() as conn:
        found = get_user(conn, username)
    if found is None:
        raise NotFound("No User matches the given query.")
    return user_json(found)


def _token_json(token, include_secret: bool):  # type: ignore[no-untyped-def]
    data = {"name": token.name, "consumer_key": token.consumer_key,
            "token_key": token.token_key}
    if include_secret:
        data["token_secret"] = token.token_secret.get_secret_value()
    return data


@account.action("POST", "create_authorisation_token")
def create_authorisation_token(call):  # type: ignore[no-untyped-def]
    """A new API key for the caller; the only response that carries a secret."""
    with call.store.write() as conn:
        token = create_token(conn, call.viewer.id, call.params.get("name") or "")
    return _token_json(token, include_secret=True)


@account.action("GET", "list_authorisation_tokens")
def list_authorisation_tokens(call):  # type: ignore[no-untyped-def]
    """The caller's API keys, without their secrets."""
    with call.store.read() as conn:
        return [_token_json(token, include_secret=False)
                for token in list_tokens(conn, call.viewer.id)]


@account.action("POST", "delete_authorisation_token")
def delete_authorisation_token(call):  # type: ignore[no-untyped-def]
    """Delete one of the caller's keys: token_key."""
    token_key = call.params.required("token_key")
    with call.store.write() as conn:
        if not delete_token(conn, call.viewer.id, token_key):
            raise NotFound(f"No API key with token_key '{token_key}'.")
    return {}
