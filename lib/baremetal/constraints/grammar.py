"""Parsing MAAS's allocation grammar into :class:`Constraints`, and rendering it back.

Input is what the API received: each key with its list of values (keys repeat for lists).
Everything here is pure and raises nothing but :class:`ConstraintError`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from baremetal.models import LinkMode

from .errors import ConstraintError

# Parameters of op=allocate that are not constraints on the machine.
OPTIONS = frozenset({
    "agent_name", "comment", "dry_run", "verbose",
    "bridge_all", "bridge_type", "bridge_fd", "bridge_stp",
})

CONSTRAINTS = frozenset({
    "name", "system_id", "arch", "cpu_count", "mem", "tags", "not_tags",
    "zone", "not_in_zone", "not_in_zones", "pool", "not_in_pool",
    "subnets", "not_subnets", "fabrics", "not_fabrics", "storage", "interfaces",
})

SUBNET_KINDS = ("id", "cidr", "name", "space", "vlan", "vid", "ip")

# Keys of an `interfaces` entry; those in NEGATABLE also take a `not_` prefix.
INTERFACE_KEYS = frozenset({
    "space", "fabric", "subnet", "subnet_cidr", "vid", "vlan", "mode", "name", "tag",
    "link_speed", "ip", "type",
})
NEGATABLE = INTERFACE_KEYS - {"link_speed"}

_LABEL = r"[A-Za-z0-9_.-]+"
_STORAGE_ENTRY = re.compile(
    rf"(?:(?P<label>{_LABEL}):)?(?P<size>[0-9]+(?:\.[0-9]+)?)(?:\((?P<tags>[^()]*)\))?"
)
_INTERFACE_ENTRY = re.compile(rf"(?P<label>{_LABEL}):(?P<body>[^;]*)")
_KEY_VALUE = re.compile(r"(?P<key>[a-z_]+)=(?P<value>[^,;=]+)")


@dataclass(frozen=True)
class StorageSpec:
    label: str
    size_gb: float
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubnetSpec:
    kind: str  # one of SUBNET_KINDS
    value: str


@dataclass(frozen=True)
class InterfaceSpec:
    label: str
    conditions: tuple[tuple[str, str], ...]  # (key, value); key may start with not_


@dataclass(frozen=True)
class Constraints:
    name: str | None = None
    system_id: str | None = None
    arch: tuple[str, ...] = ()
    cpu_count: float | None = None
    mem: float | None = None  # MiB
    tags: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    zone: str | None = None
    not_in_zone: tuple[str, ...] = ()
    pool: str | None = None
    not_in_pool: tuple[str, ...] = ()
    subnets: tuple[SubnetSpec, ...] = ()
    not_subnets: tuple[SubnetSpec, ...] = ()
    fabrics: tuple[str, ...] = ()
    not_fabrics: tuple[str, ...] = ()
    storage: tuple[StorageSpec, ...] = ()
    interfaces: tuple[InterfaceSpec, ...] = ()

    @property
    def needs_devices(self) -> bool:
        """True when matching needs a machine's interfaces or disks, not just its row."""
        return bool(
            self.subnets or self.not_subnets or self.fabrics or self.not_fabrics
            or self.storage or self.interfaces
        )


@dataclass(frozen=True)
class AllocationOptions:
    agent_name: str = ""
    comment: str = ""
    dry_run: bool = False
    verbose: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def parse_allocation(params: Mapping[str, Sequence[str]]) -> tuple[Constraints, AllocationOptions]:
    """Split an allocate request into constraints and options, validating every value."""
    unknown = sorted(k for k in params if k not in CONSTRAINTS and k not in OPTIONS)
    if unknown:
        raise ConstraintError(unknown[0], "No such constraint.")
    return parse_constraints(params), _parse_options(params)


def parse_constraints(params: Mapping[str, Sequence[str]]) -> Constraints:
    def values(key: str) -> list[str]:
        return [v for v in params.get(key, ()) if v.strip()]

    def last(key: str) -> str | None:
        found = values(key)
        return found[-1].strip() if found else None

    return Constraints(
        name=last("name"),
        system_id=last("system_id"),
        arch=tuple(v.strip() for v in values("arch")),
        cpu_count=_number("cpu_count", last("cpu_count")),
        mem=_number("mem", last("mem")),
        tags=_split_list(values("tags")),
        not_tags=_split_list(values("not_tags")),
        zone=last("zone"),
        not_in_zone=_split_list(values("not_in_zone") + values("not_in_zones")),
        pool=last("pool"),
        not_in_pool=_split_list(values("not_in_pool")),
        subnets=tuple(parse_subnet_spec("subnets", v) for v in _split_list(values("subnets"))),
        not_subnets=tuple(
            parse_subnet_spec("not_subnets", v) for v in _split_list(values("not_subnets"))
        ),
        fabrics=_split_list(values("fabrics")),
        not_fabrics=_split_list(values("not_fabrics")),
        storage=parse_storage(last("storage") or ""),
        interfaces=parse_interfaces(last("interfaces") or ""),
    )


def _parse_options(params: Mapping[str, Sequence[str]]) -> AllocationOptions:
    def last(key: str) -> str:
        found = list(params.get(key, ()))
        return found[-1] if found else ""

    return AllocationOptions(
        agent_name=last("agent_name"),
        comment=last("comment"),
        dry_run=_boolean("dry_run", last("dry_run")),
        verbose=_boolean("verbose", last("verbose")),
        extra={k: last(k) for k in params if k.startswith("bridge_")},
    )


def _boolean(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("", "0", "false", "no", "off"):
        return False
    if lowered in ("1", "true", "yes", "on"):
        return True
    raise ConstraintError(key, f"'{text}' is not a boolean (use true or false).")


def _number(key: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ConstraintError(key, f"Invalid number: '{text}'.") from None
    if not math.isfinite(number) or number < 0:
        raise ConstraintError(key, f"Must be a number of at least 0, not '{text}'.")
    return number


def _split_list(values: Iterable[str]) -> tuple[str, ...]:
    """Repeated keys and comma-separated values both make a list, as MAAS accepts."""
    items: list[str] = []
    for value in values:
        items.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(items)


def parse_subnet_spec(key: str, text: str) -> SubnetSpec:
    """`<id>`, `name:`, `cidr:`, `space:`, `vlan:`, `vid:`, `ip:`; a bare CIDR or name too."""
    kind, sep, value = text.partition(":")
    if not sep:
        if text.isdigit():
            kind, value = "id", text
        elif "/" in text:
            kind, value = "cidr", text
        else:
            kind, value = "name", text
    kind, value = kind.strip(), value.strip()
    if kind not in SUBNET_KINDS:
        raise ConstraintError(
            key, f"Unknown subnet specifier '{kind}' in '{text}' "
            f"(use one of: {', '.join(SUBNET_KINDS)})."
        )
    if not value:
        raise ConstraintError(key, f"Empty value in subnet specifier '{text}'.")
    try:
        if kind in ("id", "vlan"):
            value = str(int(value))
        elif kind == "vid":
            value = str(_vid(value))
        elif kind == "cidr":
            value = str(ipaddress.ip_network(value, strict=False))
        elif kind == "ip":
            value = str(ipaddress.ip_address(value))
    except ValueError:
        raise ConstraintError(key, f"Invalid {kind} in subnet specifier '{text}'.") from None
    return SubnetSpec(kind, value)


def _vid(text: str) -> int:
    vid = int(text)
    if not 0 <= vid <= 4094:
        raise ValueError(text)
    return vid


def parse_storage(text: str) -> tuple[StorageSpec, ...]:
    """`[label:]size[(tag,...)]`, comma separated; sizes in GB; the first is the root disk."""
    text = text.strip()
    if not text:
        return ()
    specs: list[StorageSpec] = []
    position = 0
    while True:
        entry = _STORAGE_ENTRY.match(text, position)
        if entry is None or entry.end() == position:
            raise ConstraintError(
                "storage",
                f"Malformed storage constraint at '{text[position:]}': expected "
                "[label:]size[(tag,...)] with the size in GB, entries separated by commas.",
            )
        size = float(entry["size"])
        if size <= 0:
            raise ConstraintError("storage", f"Size of '{entry.group(0)}' must be above 0.")
        label = entry["label"] or str(len(specs))
        if any(spec.label == label for spec in specs):
            raise ConstraintError("storage", f"Duplicate storage label '{label}'.")
        tags = _split_list([entry["tags"] or ""])
        specs.append(StorageSpec(label, size, tags))
        position = entry.end()
        if position == len(text):
            return tuple(specs)
        if text[position] != ",":
            raise ConstraintError(
                "storage", f"Expected ',' before '{text[position:]}' in storage constraint."
            )
        position += 1


def parse_interfaces(text: str) -> tuple[InterfaceSpec, ...]:
    """`label:key=value[,key=value];label2:...` with MAAS's keys, `not_` negating."""
    text = text.strip()
    if not text:
        return ()
    specs: list[InterfaceSpec] = []
    for part in text.split(";"):
        entry = _INTERFACE_ENTRY.fullmatch(part.strip())
        if entry is None:
            raise ConstraintError(
                "interfaces",
                f"Malformed interfaces constraint at '{part}': expected "
                "label:key=value[,key=value] with entries separated by ';'.",
            )
        label = entry["label"]
        if any(spec.label == label for spec in specs):
            raise ConstraintError("interfaces", f"Duplicate interface label '{label}'.")
        conditions = tuple(
            _interface_condition(label, pair) for pair in entry["body"].split(",")
        )
        specs.append(InterfaceSpec(label, conditions))
    return tuple(specs)


def _interface_condition(label: str, pair: str) -> tuple[str, str]:
    found = _KEY_VALUE.fullmatch(pair.strip())
    if found is None:
        raise ConstraintError(
            "interfaces", f"Malformed condition '{pair}' for '{label}': expected key=value."
        )
    key, value = found["key"], found["value"].strip()
    base = key.removeprefix("not_")
    if base not in INTERFACE_KEYS or (key != base and base not in NEGATABLE):
        raise ConstraintError(
            "interfaces",
            f"Unknown key '{key}' for '{label}' (use: {', '.join(sorted(INTERFACE_KEYS))}).",
        )
    try:
        if base in ("link_speed", "vlan"):
            value = str(int(value))
        elif base == "vid":
            value = str(_vid(value))
        elif base == "mode":
            value = LinkMode(value).value
        elif base == "subnet":
            value = _render_subnet(parse_subnet_spec("interfaces", value))
    except ValueError:
        raise ConstraintError(
            "interfaces", f"Invalid value '{value}' for '{key}' of '{label}'."
        ) from None
    return key, value


def _render_subnet(spec: SubnetSpec) -> str:
    return f"{spec.kind}:{spec.value}"


def _render_number(number: float) -> str:
    return repr(number)


def render_constraints(constraints: Constraints) -> dict[str, list[str]]:
    """The request parameters that parse back to ``constraints``: the grammar's inverse."""
    c = constraints
    params: dict[str, list[str]] = {}

    def put(key: str, values: Iterable[str]) -> None:
        values = list(values)
        if values:
            params[key] = values

    put("name", [c.name] if c.name else [])
    put("system_id", [c.system_id] if c.system_id else [])
    put("arch", c.arch)
    put("cpu_count", [] if c.cpu_count is None else [_render_number(c.cpu_count)])
    put("mem", [] if c.mem is None else [_render_number(c.mem)])
    put("tags", c.tags)
    put("not_tags", c.not_tags)
    put("zone", [c.zone] if c.zone else [])
    put("not_in_zone", c.not_in_zone)
    put("pool", [c.pool] if c.pool else [])
    put("not_in_pool", c.not_in_pool)
    put("subnets", [_render_subnet(s) for s in c.subnets])
    put("not_subnets", [_render_subnet(s) for s in c.not_subnets])
    put("fabrics", c.fabrics)
    put("not_fabrics", c.not_fabrics)
    if c.storage:
        params["storage"] = [",".join(
            f"{s.label}:{_render_number(s.size_gb)}" + (f"({','.join(s.tags)})" if s.tags else "")
            for s in c.storage
        )]
    if c.interfaces:
        params["interfaces"] = [";".join(
            f"{i.label}:" + ",".join(f"{k}={v}" for k, v in i.conditions) for i in c.interfaces
        )]
    return params


def describe(constraints: Constraints) -> str:
    """A short human summary, as in MAAS's 'No available machine matches constraints: ...'."""
    parts = []
    for key, values in render_constraints(constraints).items():
        parts.append(f"{key}={','.join(values)}")
    return " ".join(parts) if parts else "(none)"
