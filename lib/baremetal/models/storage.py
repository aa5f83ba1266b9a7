"""Block devices and partitions."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Filesystem(BaseModel):
    fstype: str
    uuid: str | None = None
    mount_point: str | None = None


class Partition(BaseModel):
    id: int
    number: int
    size: int  # bytes
    uuid: str | None = None
    path: str = ""
    filesystem: Filesystem | None = None

    @property
    def used_for(self) -> str:
        if self.filesystem is None:
            return "Unused"
        return f"{self.filesystem.fstype} formatted filesystem"


class BlockDevice(BaseModel):
    id: int
    name: str
    path: str = ""
    size: int  # bytes
    block_size: int = 512
    model: str | None = None
    serial: str | None = None
    id_path: str | None = None
    rotational: bool = False
    uuid: str | None = None
    tags: list[str] = Field(default_factory=list)
    filesystem: Filesystem | None = None
    partitions: list[Partition] = Field(default_factory=list)

    @property
    def used_size(self) -> int:
        if self.filesystem is not None:
            return self.size
        return sum(p.size for p in self.partitions)

    @property
    def used_for(self) -> str:
        if self.filesystem is not None:
            return f"{self.filesystem.fstype} formatted filesystem"
        if self.partitions:
            return f"{len(self.partitions)} partition(s)"
        return "Unused"
