"""MAAS's allocation constraints: one grammar, one matcher. Pure functions over models."""

from .errors import ConstraintError
from .grammar import (
    AllocationOptions,
    Constraints,
    InterfaceSpec,
    StorageSpec,
    SubnetSpec,
    describe,
    parse_allocation,
    parse_constraints,
    parse_interfaces,
    parse_storage,
    parse_subnet_spec,
    render_constraints,
)
from .matcher import (
    ConstraintsByType,
    arch_matches,
    check_references,
    match_machine,
    subnet_matches,
)

__all__ = [
    "AllocationOptions",
    "ConstraintError",
    "Constraints",
    "ConstraintsByType",
    "InterfaceSpec",
    "StorageSpec",
    "SubnetSpec",
    "arch_matches",
    "check_references",
    "describe",
    "match_machine",
    "parse_allocation",
    "parse_constraints",
    "parse_interfaces",
    "parse_storage",
    "parse_subnet_spec",
    "render_constraints",
    "subnet_matches",
]
