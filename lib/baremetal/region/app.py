"""The Flask app factory: one dispatcher serves every resource of the registry."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
from flask import Flask, Response, g, jsonify, request
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from baremetal.constraints import ConstraintError
from baremetal.lifecycle import InvalidTransition
from baremetal.models import User
from baremetal.network.ipam import AddressError
from baremetal.store import Store
from baremetal.store.allocation import NoMatch
from baremetal.store.ipam import SubnetFull
from baremetal.store.machines import ConcurrentChange, MachineNotFound

from .auth import request_user
from .errors import ApiError, BadRequest, Forbidden, Unauthorized
from .params import Params, parse_request
from .registry import Resource, registry

log = logging.getLogger(__name__)


@dataclass
class Call:
    """What an action gets: the store, the signed-in user, the parameters."""

    store: Store
    user: User | None
    params: Params
    base_url: str

    @property
    def viewer(self) -> User:
        if self.user is None:
            raise Unauthorized("Authentication required.")
        return self.user

    def require_admin(self) -> User:
        user = self.viewer
        if not user.is_superuser:
            raise Forbidden("You do not have permission to do this: it needs an administrator.")
        return user


def create_app(store: Store, **config: object) -> Flask:
    """The region. `config` sets Flask config keys, e.g. POWER_QUERY_TIMEOUT (seconds
    `query_power_state` waits for a power worker, default 30)."""
    from . import handlers  # noqa: F401  (registers every resource)
    from .pages import api_reference

    app = Flask("baremetal.region")
    app.extensions["baremetal.store"] = store
    app.config["POWER_QUERY_TIMEOUT"] = 30.0
    app.config.update(config)
    for resource in registry.resources:
        app.add_url_rule(resource.flask_rule, endpoint=resource.name,
                         view_func=_dispatcher(resource),
                         methods=["GET", "POST", "PUT", "DELETE"], strict_slashes=False)
    app.add_url_rule("/MAAS/accounts/authenticate/", endpoint="authenticate",
                     view_func=_authenticate, methods=["POST"])
    app.add_url_rule("/MAAS/api/2.0/", endpoint="api_reference",
                     view_func=api_reference, methods=["GET"])
    from .rackapi import rack_api

    app.register_blueprint(rack_api)
    from .metadata import metadata_api
    from .ui import configure as configure_ui

    app.register_blueprint(metadata_api)
    configure_ui(app)
    app.register_error_handler(Exception, _error_response)
    return app


def _store() -> Store:
    from flask import current_app

    return current_app.extensions["baremetal.store"]


def _dispatcher(resource: Resource):  # type: ignore[no-untyped-def]
    def dispatch(**path_params: str) -> Response:
        op, params = parse_request(request)
        action = resource.actions.get((request.method, op))
        if action is None:
            raise BadRequest(f"Unrecognised signature: method={request.method} op={op or ''}")
        store = _store()
        user = None
        anonymous = resource.anonymous or action.anonymous
        if not anonymous or request.headers.get("Authorization"):
            with store.read() as conn:
                try:
                    user = request_user(request, conn)
                except Unauthorized:
                    if not anonymous:
                        raise
        if user is None and not anonymous:
            raise Unauthorized("Authentication required: sign requests with an API key.")
        g.user = user
        call = Call(store, user, params, request.host_url)
        if action.admin:
            call.require_admin()
        result = action.func(call, **path_params)
        if isinstance(result, Response):
            return result
        return Response(orjson.dumps(result), mimetype="application/json")

    dispatch.__name__ = f"dispatch_{resource.name}"
    return dispatch


def _authenticate() -> Response:
    """python-libmaas `login`: a username and password give an API key."""
    from baremetal.store.accounts import authenticate, create_token

    _, params = parse_request(request)
    username, password = params.get("username") or "", params.get("password") or ""
    with _store().write() as conn:
        user = authenticate(conn, username, password)
        if user is None:
            raise Forbidden("Invalid username or password.")
        token = create_token(conn, user.id, name=params.get("consumer") or "login")
    return jsonify({"consumer_key": token.consumer_key, "token_key": token.token_key,
                    "token_secret": token.token_secret.get_secret_value(),
                    "name": token.name})


_DOMAIN_ERRORS: list[tuple[type[Exception], int]] = [
    (ConstraintError, 400),
    (AddressError, 400),
    (SubnetFull, 409),
    (InvalidTransition, 409),
    (NoMatch, 409),
    (ConcurrentChange, 409),
    (MachineNotFound, 404),
]


def _error_response(error: Exception) -> Response:
    """Every error is plain text a person can read; no request ever shows a traceback."""
    from werkzeug.exceptions import HTTPException

    if isinstance(error, ApiError):
        return _text(error.message, error.status)
    if isinstance(error, HTTPException):
        return _text(error.description or error.name, error.code or 500)
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
            for e in error.errors())
        return _text(problems, 400)
    if isinstance(error, IntegrityError):
        return _text("That conflicts with an existing object (a name already in use?).", 409)
    for kind, status in _DOMAIN_ERRORS:
        if isinstance(error, kind):
            return _text(str(error), status)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _text("Internal server error: the region logged the details.", 500)


def _text(message: str, status: int) -> Response:
    return Response(message, status=status, mimetype="text/plain")


__all__ = ["Call", "create_app"]
