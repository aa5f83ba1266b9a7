"""Network models: fabrics, VLANs, spaces, subnets, interfaces and their links."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .enums import InterfaceType, LinkMode


class Space(BaseModel):
    id: int
    name: str
    description: str = ""


class Fabric(BaseModel):
    id: int
    name: str
    class_type: str | None = None


class VLAN(BaseModel):
    id: int
    fabric_id: int
    fabric: str  # the fabric's name, as MAAS serialises it
    vid: int = 0
    name: str | None = None
    mtu: int = 1500
    dhcp_on: bool = False
    primary_rack: str | None = None
    secondary_rack: str | None = None
    space: str | None = None


class Subnet(BaseModel):
    id: int
    name: str
    cidr: str
    vlan: VLAN
    space: str | None = None
    gateway_ip: str | None = None
    dns_servers: list[str] = Field(default_factory=list)


class Link(BaseModel):
    id: int
    mode: LinkMode = LinkMode.LINK_UP
    ip_address: str | None = None
    subnet: Subnet | None = None
    default_gateway: bool = False  # the machine's default route goes through this link


class Interface(BaseModel):
    id: int
    name: str
    type: InterfaceType = InterfaceType.PHYSICAL
    mac_address: str | None = None
    enabled: bool = True
    mtu: int = 1500
    link_speed: int = 0  # Mbit/s, as commissioning reports it
    vlan: VLAN | None = None
    links: list[Link] = Field(default_factory=list)
    parents: list[str] = Field(default_factory=list)
    children: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)  # bond/bridge settings
    discovered: list[Link] = Field(default_factory=list)  # addresses it was seen with

    @property
    def effective_mtu(self) -> int:
        return self.vlan.mtu if self.vlan and self.mtu == 0 else self.mtu
