"""OAuth 1 PLAINTEXT, as MAAS clients sign requests: key = consumer:token:secret."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from flask import Request
from sqlalchemy import Connection

from baremetal.models import User
from baremetal.store.accounts import user_for_token

from .errors import Unauthorized

_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


def oauth_parameters(header: str) -> dict[str, str] | None:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        return None
    return {key: unquote_plus(value) for key, value in _PARAM.findall(rest)}


def request_user(request: Request, conn: Connection) -> User | None:
    """The signed-in user; None when the request carries no credentials at all.

    Bad credentials are an error (401), never a quiet fall back to anonymous.
    """
    header = request.headers.get("Authorization")
    if not header:
        return None
    params = oauth_parameters(header)
    if params is None:
        raise Unauthorized("Authorization header is not OAuth: use an API key.")
    method = params.get("oauth_signature_method", "")
    if method != "PLAINTEXT":
        raise Unauthorized(f"Unsupported OAuth signature method '{method}': use PLAINTEXT.")
    consumer_key = params.get("oauth_consumer_key", "")
    token_key = params.get("oauth_token", "")
    signature = params.get("oauth_signature", "")
    consumer_secret, sep, token_secret = signature.partition("&")
    if not (consumer_key and token_key and sep) or consumer_secret:
        raise Unauthorized("Invalid API key.")
    user = user_for_token(conn, consumer_key, token_key, token_secret)
    if user is None:
        raise Unauthorized("Invalid API key.")
    return user


def split_api_key(key: str) -> tuple[str, str, str]:
    parts = key.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError("An API key has three parts: consumer_key:token_key:token_secret.")
    return parts[0], parts[1], parts[2]
