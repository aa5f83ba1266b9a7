"""Deciding whether a machine satisfies :class:`Constraints` (pure, over models)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable, Sequence

from baremetal.models import BlockDevice, Interface, Machine, Subnet

from .errors import ConstraintError
from .grammar import Constraints, InterfaceSpec, StorageSpec, SubnetSpec, parse_subnet_spec

GB = 1000**3  # MAAS's storage constraint sizes are decimal gigabytes

ConstraintsByType = dict[str, dict[str, list[int]]]


def arch_matches(wanted: str, architecture: str | None) -> bool:
    """`amd64` matches any `amd64/*`; `amd64/generic` only itself."""
    if architecture is None:
        return False
    if "/" in wanted:
        return architecture == wanted
    return architecture.split("/", 1)[0] == wanted


def check_references(
    constraints: Constraints,
    *,
    zones: Collection[str],
    pools: Collection[str],
    tags: Collection[str],
    architectures: Collection[str],
) -> None:
    """Refuse names that do not exist, with MAAS's messages (the API turns them into 400)."""
    c = constraints
    if c.zone is not None and c.zone not in zones:
        raise ConstraintError("zone", f"No such zone: '{c.zone}'.")
    missing = [z for z in c.not_in_zone if z not in zones]
    if missing:
        raise ConstraintError("not_in_zone", f"No such zone(s): {_quoted(missing)}.")
    if c.pool is not None and c.pool not in pools:
        raise ConstraintError("pool", f"No such pool: '{c.pool}'.")
    missing = [p for p in c.not_in_pool if p not in pools]
    if missing:
        raise ConstraintError("not_in_pool", f"No such pool(s): {_quoted(missing)}.")
    missing = [t for t in c.tags if t not in tags]
    if missing:
        raise ConstraintError("tags", f"No such tag(s): {_quoted(missing)}.")
    for wanted in c.arch:
        if not any(arch_matches(wanted, known) for known in architectures):
            raise ConstraintError("arch", f"Architecture not recognised: '{wanted}'.")


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def match_machine(machine: Machine, constraints: Constraints) -> ConstraintsByType | None:
    """None if ``machine`` does not satisfy ``constraints``, else its `constraints_by_type`."""
    c = constraints
    if not _row_matches(machine, c):
        return None
    machine_subnets = [
        link.subnet for i in machine.interfaces for link in i.links if link.subnet is not None
    ]
    if not all(any(subnet_matches(s, sub) for sub in machine_subnets) for s in c.subnets):
        return None
    if any(subnet_matches(s, sub) for s in c.not_subnets for sub in machine_subnets):
        return None
    fabrics = {i.vlan.fabric for i in machine.interfaces if i.vlan is not None}
    if not set(c.fabrics) <= fabrics or fabrics & set(c.not_fabrics):
        return None
    by_type: ConstraintsByType = {}
    if c.storage:
        storage = match_storage(machine.block_devices, c.storage, machine.boot_disk)
        if storage is None:
            return None
        by_type["storage"] = storage
    if c.interfaces:
        interfaces = match_interfaces(machine.interfaces, c.interfaces)
        if interfaces is None:
            return None
        by_type["interfaces"] = interfaces
    return by_type


def _row_matches(machine: Machine, c: Constraints) -> bool:
    """The part of matching the store can also express in SQL: the machine's own columns."""
    checks = (
        c.name is None or c.name in (machine.hostname, machine.fqdn),
        c.system_id is None or c.system_id == machine.system_id,
        not c.arch or any(arch_matches(a, machine.architecture) for a in c.arch),
        c.cpu_count is None or machine.cpu_count >= c.cpu_count,
        c.mem is None or machine.memory >= c.mem,
        set(c.tags) <= set(machine.tags),
        not set(c.not_tags) & set(machine.tags),
        c.zone is None or machine.zone.name == c.zone,
        machine.zone.name not in c.not_in_zone,
        c.pool is None or (machine.pool is not None and machine.pool.name == c.pool),
        machine.pool is None or machine.pool.name not in c.not_in_pool,
    )
    return all(checks)


def subnet_matches(spec: SubnetSpec, subnet: Subnet) -> bool:
    value = spec.value
    match spec.kind:
        case "id":
            return str(subnet.id) == value
        case "cidr":
            return str(ipaddress.ip_network(subnet.cidr, strict=False)) == value
        case "name":
            return subnet.name == value
        case "space":
            return subnet.space == value
        case "vlan":
            return str(subnet.vlan.id) == value
        case "vid":
            return str(subnet.vlan.vid) == value
        case "ip":
            return ipaddress.ip_address(value) in ipaddress.ip_network(subnet.cidr, strict=False)
    return False


def _assign(
    labels: Sequence[str],
    candidates: Sequence[Sequence[int]],
    taken: frozenset[int] = frozenset(),
) -> list[int] | None:
    """Give each label a distinct candidate (backtracking; machines have few devices)."""
    if not labels:
        return []
    for choice in candidates[0]:
        if choice in taken:
            continue
        rest = _assign(labels[1:], candidates[1:], taken | {choice})
        if rest is not None:
            return [choice, *rest]
    return None


def _match_distinct(
    labels: Sequence[str], candidates: Sequence[Sequence[int]]
) -> dict[str, list[int]] | None:
    chosen = _assign(labels, candidates)
    if chosen is None:
        return None
    return {label: [device_id] for label, device_id in zip(labels, chosen, strict=True)}


def match_storage(
    devices: Sequence[BlockDevice], specs: Sequence[StorageSpec], boot_disk: BlockDevice | None
) -> dict[str, list[int]] | None:
    """Each entry takes its own disk; the first entry is the root disk (the boot disk)."""

    def fits(spec: StorageSpec, device: BlockDevice) -> bool:
        return device.size >= spec.size_gb * GB and set(spec.tags) <= set(device.tags)

    candidates = []
    for index, spec in enumerate(specs):
        pool = [boot_disk] if index == 0 and boot_disk is not None else devices
        candidates.append([d.id for d in pool if fits(spec, d)])
    return _match_distinct([s.label for s in specs], candidates)


def match_interfaces(
    interfaces: Sequence[Interface], specs: Sequence[InterfaceSpec]
) -> dict[str, list[int]] | None:
    """Each labelled entry takes its own interface, meeting all of its conditions."""
    candidates = [
        [i.id for i in interfaces if all(_condition(i, k, v) for k, v in spec.conditions)]
        for spec in specs
    ]
    return _match_distinct([s.label for s in specs], candidates)


def _condition(interface: Interface, key: str, value: str) -> bool:
    negated = key.startswith("not_")
    test = _INTERFACE_TESTS[key.removeprefix("not_")]
    return test(interface, value) != negated


def _any_link(interface: Interface, predicate: Callable[..., bool]) -> bool:
    return any(predicate(link) for link in interface.links)


def _interface_space(interface: Interface, value: str) -> bool:
    if interface.vlan is not None and interface.vlan.space == value:
        return True
    return _any_link(interface, lambda link: link.subnet is not None and link.subnet.space == value)


def _interface_subnet(interface: Interface, value: str) -> bool:
    spec = parse_subnet_spec("interfaces", value)
    return _any_link(
        interface, lambda link: link.subnet is not None and subnet_matches(spec, link.subnet)
    )


_INTERFACE_TESTS: dict[str, Callable[[Interface, str], bool]] = {
    "name": lambda i, v: i.name == v,
    "tag": lambda i, v: v in i.tags,
    "type": lambda i, v: i.type.value == v,
    "link_speed": lambda i, v: i.link_speed >= int(v),
    "vid": lambda i, v: i.vlan is not None and str(i.vlan.vid) == v,
    "vlan": lambda i, v: i.vlan is not None and str(i.vlan.id) == v,
    "fabric": lambda i, v: i.vlan is not None and v in (i.vlan.fabric, str(i.vlan.fabric_id)),
    "space": _interface_space,
    "subnet": _interface_subnet,
    "subnet_cidr": lambda i, v: _interface_subnet(i, f"cidr:{v}"),
    "mode": lambda i, v: _any_link(i, lambda link: link.mode.value == v),
    "ip": lambda i, v: _any_link(i, lambda link: link.ip_address == v),
}
