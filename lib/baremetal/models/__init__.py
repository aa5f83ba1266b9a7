"""Pydantic models and enums of the domain. Imports nothing else of ours."""

from .accounts import ApiToken, Event, User
from .enums import InterfaceType, LinkMode, NodeStatus, NodeType, PowerState
from .machine import Domain, Machine, ResourcePool, Tag, Zone, allocation_cost
from .network import VLAN, Fabric, Interface, Link, Space, Subnet
from .storage import BlockDevice, Filesystem, Partition

__all__ = [
    "VLAN",
    "ApiToken",
    "BlockDevice",
    "Domain",
    "Event",
    "Fabric",
    "Filesystem",
    "Interface",
    "InterfaceType",
    "Link",
    "LinkMode",
    "Machine",
    "NodeStatus",
    "NodeType",
    "Partition",
    "PowerState",
    "ResourcePool",
    "Space",
    "Subnet",
    "Tag",
    "User",
    "Zone",
    "allocation_cost",
]
