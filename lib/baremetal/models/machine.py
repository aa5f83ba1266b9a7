"""Machines, and the objects they are filed under: zones, pools, domains, tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .enums import NodeStatus, NodeType, PowerState
from .network import Interface
from .storage import BlockDevice


class Zone(BaseModel):
    id: int
    name: str
    description: str = ""


class ResourcePool(BaseModel):
    id: int
    name: str
    description: str = ""


class Domain(BaseModel):
    id: int
    name: str
    ttl: int | None = None
    authoritative: bool = True
    is_default: bool = False


class Tag(BaseModel):
    id: int
    name: str
    definition: str = ""
    comment: str = ""
    kernel_opts: str = ""


def allocation_cost(cpu_count: int, memory_mib: int) -> float:
    """The price of a machine when choosing among matches: cheapest wins, as in MAAS."""
    return cpu_count + memory_mib / 1024


class Machine(BaseModel):
    id: int
    system_id: str
    hostname: str
    domain: Domain
    status: NodeStatus = NodeStatus.NEW
    status_message: str | None = None
    status_deadline: datetime | None = None
    node_type: NodeType = NodeType.MACHINE
    owner: str | None = None
    agent_name: str = ""
    owner_data: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    osystem: str = ""
    distro_series: str = ""
    architecture: str | None = "amd64/generic"
    hwe_kernel: str | None = None
    min_hwe_kernel: str = ""
    cpu_count: int = 0
    cpu_speed: int = 0  # MHz
    memory: int = 0  # MiB
    power_type: str = ""
    power_state: PowerState = PowerState.UNKNOWN
    netboot: bool = True
    locked: bool = False
    disable_ipv4: bool = False
    zone: Zone
    pool: ResourcePool | None = None
    tags: list[str] = Field(default_factory=list)
    interfaces: list[Interface] = Field(default_factory=list)
    block_devices: list[BlockDevice] = Field(default_factory=list)
    boot_interface_id: int | None = None
    boot_disk_id: int | None = None
    hardware_info: dict[str, Any] | None = None
    created: datetime | None = None
    updated: datetime | None = None

    @property
    def fqdn(self) -> str:
        return f"{self.hostname}.{self.domain.name}"

    @property
    def cost(self) -> float:
        return allocation_cost(self.cpu_count, self.memory)

    @property
    def ip_addresses(self) -> list[str]:
        return [link.ip_address for i in self.interfaces for link in i.links if link.ip_address]

    @property
    def boot_interface(self) -> Interface | None:
        for interface in self.interfaces:
            if interface.id == self.boot_interface_id:
                return interface
        return self.interfaces[0] if self.interfaces else None

    @property
    def boot_disk(self) -> BlockDevice | None:
        for device in self.block_devices:
            if device.id == self.boot_disk_id:
                return device
        return self.block_devices[0] if self.block_devices else None
