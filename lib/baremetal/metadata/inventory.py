"""What commissioning scripts print, parsed into the machine's record. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ARCHITECTURES = {"x86_64": "amd64/generic", "aarch64": "arm64/generic", "i686": "i386/generic",
                 "ppc64le": "ppc64el/generic", "s390x": "s390x/generic"}
SECRET_KEYS = ("power_pass",)


@dataclass
class Inventory:
    cpu_count: int = 0
    cpu_model: str = ""
    cpu_speed: int = 0  # MHz
    memory: int = 0  # MiB
    architecture: str | None = None
    interfaces: list[dict] = field(default_factory=list)  # name, mac, speed, driver, boot
    block_devices: list[dict] = field(default_factory=list)  # name, size, model, serial, ...
    bmc: dict[str, str] = field(default_factory=dict)  # power_type, power_address, ...

    def hardware_info(self) -> dict[str, str]:
        return {"cpu_model": self.cpu_model, "cpu_count": str(self.cpu_count),
                "cpu_speed": f"{self.cpu_speed} MHz", "memory": f"{self.memory} MiB",
                "nics": str(len(self.interfaces)), "disks": str(len(self.block_devices))}


def _records(text: str) -> list[dict[str, str]]:
    """key=value lines, records separated by `--`."""
    records, current = [], {}
    for line in text.splitlines():
        if line.strip() == "--":
            if current:
                records.append(current)
            current = {}
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    if current:
        records.append(current)
    return records


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(float(text or ""))
    except ValueError:
        return default


def parse(outputs: dict[str, str]) -> Inventory:
    found = Inventory()
    cpuinfo = outputs.get("00-cpu", "")
    found.cpu_count = len(re.findall(r"^processor\s*:", cpuinfo, re.M))
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    found.cpu_model = model.group(1).strip() if model else ""
    speed = re.search(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)
    found.cpu_speed = int(float(speed.group(1))) if speed else 0
    memory = re.search(r"^MemTotal:\s*(\d+)\s*kB", outputs.get("01-memory", ""), re.M)
    found.memory = int(memory.group(1)) // 1024 if memory else 0
    for record in _records(outputs.get("02-block-devices", "")):
        if not record.get("name") or _int(record.get("size")) <= 0:
            continue
        found.block_devices.append({
            "name": record["name"], "size": _int(record.get("size")),
            "model": record.get("model") or None, "serial": record.get("serial") or None,
            "rotational": record.get("rotational") == "1", "path": f"/dev/{record['name']}"})
    for record in _records(outputs.get("03-interfaces", "")):
        mac = record.get("mac", "").lower()
        if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac):
            continue
        found.interfaces.append({
            "name": record.get("name", "eth")[:255], "mac": mac,
            "speed": max(_int(record.get("speed")), 0), "driver": record.get("driver", ""),
            "boot": record.get("boot") == "1"})
    arch = outputs.get("04-architecture", "").strip()
    found.architecture = ARCHITECTURES.get(arch)
    bmc = dict(line.split("=", 1) for line in outputs.get("05-bmc-config", "").splitlines()
               if "=" in line)
    if bmc.get("power_type") and bmc.get("power_address"):
        found.bmc = bmc
    return found


def redact(output: str) -> str:
    """Script output as stored and shown: BMC passwords replaced."""
    return re.sub(rf"^({'|'.join(SECRET_KEYS)})=.*$", r"\1=********", output, flags=re.M)
