"""Address management rules, pure: which addresses of a subnet may be handed out, and which
one to hand out next. The store supplies what is taken; it never decides.

An address may be given to a machine when it is in the subnet, is not the network or
broadcast address (IPv4), not the gateway, a DNS server or a rack controller's own
address, and not inside a dynamic or reserved range. Addresses are handed out upwards
from the highest one given so far (one index lookup, however many are taken); only when
the top of the subnet is used up are the holes below searched, lowest first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass


class AddressError(ValueError):
    """An address that cannot be given; the message is for a person."""


@dataclass(frozen=True)
class SubnetPlan:
    """What the rules need to know of a subnet."""

    cidr: str
    gateway: str | None = None
    dns_servers: tuple[str, ...] = ()
    ranges: tuple[tuple[str, str, str], ...] = ()  # (type, start, end): dynamic, reserved
    controllers: tuple[str, ...] = ()  # the racks' own addresses on the subnet

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr, strict=False)

    def usable(self) -> tuple[int, int]:
        """The first and last address that may be handed out, as integers."""
        network = self.network
        first, last = int(network.network_address), int(network.broadcast_address)
        if network.version == 4 and network.prefixlen < 31:
            return first + 1, last - 1
        return (first + 1 if network.version == 6 else first), last

    def excluded(self) -> list[tuple[int, int]]:
        """Sorted, merged integer intervals that are never handed out."""
        spans = [(int(ipaddress.ip_address(start)), int(ipaddress.ip_address(end)))
                 for _, start, end in self.ranges]
        for single in (self.gateway, *self.dns_servers, *self.controllers):
            if single:
                address = ipaddress.ip_address(single)
                if address in self.network:
                    spans.append((int(address), int(address)))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


def check_static(plan: SubnetPlan, ip: str) -> int:
    """The address as an integer, if it may be assigned statically; else AddressError."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise AddressError(f"ip_address: '{ip}' is not an IP address.") from None
    if address not in plan.network:
        raise AddressError(f"ip_address: {ip} is not in subnet {plan.cidr}.")
    value = int(address)
    first, last = plan.usable()
    if not first <= value <= last:
        raise AddressError(f"ip_address: {ip} is the network or broadcast address of "
                           f"{plan.cidr}.")
    if plan.gateway and address == ipaddress.ip_address(plan.gateway):
        raise AddressError(f"ip_address: {ip} is the gateway of {plan.cidr}.")
    if any(address == ipaddress.ip_address(c) for c in plan.controllers):
        raise AddressError(f"ip_address: {ip} is a rack controller's address.")
    for kind, start, end in plan.ranges:
        if int(ipaddress.ip_address(start)) <= value <= int(ipaddress.ip_address(end)):
            raise AddressError(f"ip_address: {ip} is inside the {kind} range "
                               f"{start}-{end} of {plan.cidr}.")
    return value


def next_above(plan: SubnetPlan, highest: int | None) -> int | None:
    """The first address above `highest` (or the first usable one) outside every
    excluded interval; None when the top of the subnet is used up."""
    first, last = plan.usable()
    candidate = first if highest is None else max(first, highest + 1)
    for start, end in plan.excluded():
        if start <= candidate <= end:
            candidate = end + 1
    return candidate if candidate <= last else None


def lowest_hole(plan: SubnetPlan, taken: Iterable[int]) -> int | None:
    """The lowest free address given the taken ones in ascending order (a scan, for when
    the top of the subnet is used up); None when the subnet is full."""
    first, last = plan.usable()
    excluded = plan.excluded()
    candidate = first
    taken_iter = iter(taken)
    upcoming = next(taken_iter, None)
    while candidate <= last:
        moved = False
        for start, end in excluded:
            if start <= candidate <= end:
                candidate, moved = end + 1, True
        while upcoming is not None and upcoming < candidate:
            upcoming = next(taken_iter, None)
        if upcoming == candidate:
            candidate, moved = candidate + 1, True
        if not moved:
            return candidate
    return None


def to_text(plan: SubnetPlan, value: int) -> str:
    return str(ipaddress.ip_address(value) if plan.network.version == 4 else
               ipaddress.IPv6Address(value))


def free_blocks(plan: SubnetPlan, taken: Iterable[int]) -> list[tuple[int, int]]:
    """The runs of addresses that could still be handed out, ascending (taken ascending)."""
    first, last = plan.usable()
    blocked = sorted([(v, v) for v in taken] + plan.excluded())
    blocks, cursor = [], first
    for start, end in blocked:
        if end < cursor:
            continue
        if start > cursor:
            blocks.append((cursor, min(start - 1, last)))
        cursor = max(cursor, end + 1)
        if cursor > last:
            break
    if cursor <= last:
        blocks.append((cursor, last))
    return [b for b in blocks if b[0] <= b[1]]


def statistics(plan: SubnetPlan, taken: Iterable[int]) -> dict[str, object]:
    """MAAS's subnet statistics: totals, what is available, the largest free run."""
    first, last = plan.usable()
    total = last - first + 1
    blocks = free_blocks(plan, taken)
    available = sum(end - start + 1 for start, end in blocks)
    usage = (total - available) / total if total else 1.0
    return {"num_available": available, "largest_available": max(
        (end - start + 1 for start, end in blocks), default=0),
        "num_unavailable": total - available, "total_addresses": total,
        "usage": round(usage, 4), "usage_string": f"{usage:.0%}",
        "available_string": f"{1 - usage:.0%}"}
