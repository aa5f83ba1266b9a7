"""The handler registry: every API resource and action is declared once, here, and the
dispatcher, `describe/`, the HTML reference and the fuzz tests all read it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CRUD_NAMES = {"GET": "read", "POST": "create", "PUT": "update", "DELETE": "delete"}
API_ROOT = "/MAAS/api/2.0"


@dataclass(frozen=True)
class Action:
    method: str
    op: str | None
    func: Callable[..., Any]
    doc: str
    admin: bool = False
    anonymous: bool = False  # this action needs no credentials (e.g. files' get_by_key)

    @property
    def name(self) -> str:
        return self.op or CRUD_NAMES[self.method]

    @property
    def restful(self) -> bool:
        return self.op is None


@dataclass
class Resource:
    """One handler: a URI template and its actions. `anonymous` ones need no credentials."""

    name: str
    path: str  # "/MAAS/api/2.0/machines/{system_id}/"
    doc: str
    anonymous: bool = False
    actions: dict[tuple[str, str | None], Action] = field(default_factory=dict)

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def flask_rule(self) -> str:
        return re.sub(r"{(\w+)}", r"<\1>", self.path)

    def action(self, method: str, op: str | None = None, *, admin: bool = False,  # type: ignore[no-untyped-def]
               anonymous: bool = False):
        """Register ``func(call, **path_params)`` as this resource's (method, op)."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            key = (method, op)
            if key in self.actions:
                raise ValueError(f"{self.name} already has {method} op={op}")
            doc = (func.__doc__ or "").strip()
            self.actions[key] = Action(method, op, func, doc, admin, anonymous)
            return func

        return register

    def describe(self, base_url: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "params": self.params,
            "path": self.path,
            "uri": base_url.rstrip("/") + self.path,
            "actions": [
                {"name": a.name, "method": a.method, "op": a.op, "restful": a.restful,
                 "doc": a.doc}
                for a in self.actions.values()
            ],
        }


class Registry:
    def __init__(self) -> None:
        self.resources: list[Resource] = []

    def resource(self, name: str, path: str, doc: str, *, anonymous: bool = False) -> Resource:
        if not path.startswith(API_ROOT):
            path = API_ROOT + path
        resource = Resource(name, path, doc, anonymous)
        self.resources.append(resource)
        return resource

    def describe(self, base_url: str) -> dict[str, Any]:
        """MAAS's describe document: `resources` with `anon`/`auth`, and `handlers`."""
        resources = []
        for resource in self.resources:
            handler = resource.describe(base_url)
            resources.append({
                "name": resource.name,
                "anon": handler if resource.anonymous else None,
                "auth": None if resource.anonymous else handler,
            })
        handlers = [r.describe(base_url) for r in self.resources]
        digest = hashlib.sha1(
            json.dumps([resources], sort_keys=True).encode(), usedforsecurity=False
        ).hexdigest()
        return {"doc": "MAAS API", "hash": digest, "resources": resources,
                "handlers": handlers}


registry = Registry()
