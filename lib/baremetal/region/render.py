"""MAAS API 2.0 JSON for each object, with every field gomaasapi and python-libmaas read.

Pure functions from models to dicts; shared sub-objects (subnets, VLANs) are rendered once
per response and reused, which keeps listing thousands of machines cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baremetal.models import (
    VLAN,
    BlockDevice,
    Domain,
    Interface,
    Link,
    Machine,
    Partition,
    ResourcePool,
    Subnet,
    Tag,
    User,
    Zone,
)
from baremetal.models.storage import Filesystem

from .registry import API_ROOT

JSON = dict[str, Any]  # enums stay enums: orjson writes their values


def zone_json(zone: Zone) -> JSON:
    return {"id": zone.id, "name": zone.name, "description": zone.description,
            "resource_uri": f"{API_ROOT}/zones/{zone.name}/"}


def pool_json(pool: ResourcePool) -> JSON:
    return {"id": pool.id, "name": pool.name, "description": pool.description,
            "resource_uri": f"{API_ROOT}/resourcepool/{pool.id}/"}


def domain_json(domain: Domain, record_count: int = 0) -> JSON:
    return {"id": domain.id, "name": domain.name, "ttl": domain.ttl,
            "authoritative": domain.authoritative, "is_default": domain.is_default,
            "resource_record_count": record_count,
            "resource_uri": f"{API_ROOT}/domains/{domain.id}/"}


def tag_json(tag: Tag) -> JSON:
    return {"name": tag.name, "definition": tag.definition, "comment": tag.comment,
            "kernel_opts": tag.kernel_opts, "resource_uri": f"{API_ROOT}/tags/{tag.name}/"}


def user_json(user: User) -> JSON:
    return {"username": user.username, "email": user.email,
            "is_superuser": user.is_superuser, "is_local": user.is_local,
            "resource_uri": f"{API_ROOT}/users/{user.username}/"}


class Renderer:
    """Renders one response; VLANs and subnets shared by many machines are built once."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, int], JSON] = {}

    def _once(self, kind: str, key: int, build: Callable[[], JSON]) -> JSON:
        found = self._built.get((kind, key))
        if found is None:
            found = self._built[(kind, key)] = build()
        return found

    def zone(self, zone: Zone) -> JSON:
        return self._once("zone", zone.id, lambda: zone_json(zone))

    def pool(self, pool: ResourcePool | None) -> JSON | None:
        return None if pool is None else self._once("pool", pool.id, lambda: pool_json(pool))

    def domain(self, domain: Domain) -> JSON:
        return self._once("domain", domain.id, lambda: domain_json(domain))

    def vlan(self, vlan: VLAN) -> JSON:
        return self._once("vlan", vlan.id, lambda: {
            "id": vlan.id, "resource_uri": f"{API_ROOT}/vlans/{vlan.id}/",
            "fabric": vlan.fabric, "fabric_id": vlan.fabric_id, "vid": vlan.vid,
            "mtu": vlan.mtu, "dhcp_on": vlan.dhcp_on,
            "name": vlan.name or ("untagged" if vlan.vid == 0 else str(vlan.vid)),
            "primary_rack": vlan.primary_rack, "secondary_rack": vlan.secondary_rack,
            "space": vlan.space or "undefined", "external_dhcp": None, "relay_vlan": None,
        })

    def subnet(self, subnet: Subnet) -> JSON:
        return self._once("subnet", subnet.id, lambda: {
            "id": subnet.id, "resource_uri": f"{API_ROOT}/subnets/{subnet.id}/",
            "name": subnet.name, "cidr": subnet.cidr, "vlan": self.vlan(subnet.vlan),
            "space": subnet.space or "undefined", "gateway_ip": subnet.gateway_ip,
            "dns_servers": list(subnet.dns_servers), "rdns_mode": 2, "allow_proxy": True,
            "allow_dns": True, "active_discovery": False, "managed": True, "description": "",
        })

    def link(self, link: Link) -> JSON:
        data: JSON = {"id": link.id, "mode": link.mode}
        if link.ip_address is not None:
            data["ip_address"] = link.ip_address
        if link.subnet is not None:
            data["subnet"] = self.subnet(link.subnet)
        return data

    def interface(self, machine: Machine, nic: Interface) -> JSON:
        return {
            "resource_uri": f"{API_ROOT}/nodes/{machine.system_id}/interfaces/{nic.id}/",
            "id": nic.id, "name": nic.name, "type": nic.type, "enabled": nic.enabled,
            "mac_address": nic.mac_address, "system_id": machine.system_id,
            "links": [self.link(link) for link in nic.links],
            "effective_mtu": nic.effective_mtu, "params": dict(nic.params) or "",
            "parents": list(nic.parents), "children": list(nic.children),
            "tags": list(nic.tags), "vlan": None if nic.vlan is None else self.vlan(nic.vlan),
            "link_speed": nic.link_speed, "interface_speed": nic.link_speed,
            "link_connected": True, "numa_node": 0,
            "discovered": [{"ip_address": d.ip_address,
                            "subnet": None if d.subnet is None else self.subnet(d.subnet)}
                           for d in nic.discovered] or None,
        }

    def block_device(self, machine: Machine, disk: BlockDevice) -> JSON:
        uri = f"{API_ROOT}/nodes/{machine.system_id}/blockdevices/{disk.id}/"
        return {
            "resource_uri": uri, "id": disk.id, "system_id": machine.system_id,
            "name": disk.name, "path": disk.path, "type": "physical",
            "used_for": disk.used_for, "tags": list(disk.tags), "block_size": disk.block_size,
            "used_size": disk.used_size, "size": disk.size,
            "available_size": disk.size - disk.used_size,
            "partitions": [_partition_json(uri, p) for p in disk.partitions],
            "uuid": disk.uuid, "model": disk.model, "serial": disk.serial,
            "id_path": disk.id_path, "filesystem": _filesystem_json(disk.filesystem),
            "storage_pool": None, "numa_node": 0,
        }

    def machine(self, machine: Machine) -> JSON:
        nics = [self.interface(machine, nic) for nic in machine.interfaces]
        disks = [self.block_device(machine, disk) for disk in machine.block_devices]
        boot_nic = machine.boot_interface
        boot_disk = machine.boot_disk
        return {
            "resource_uri": f"{API_ROOT}/machines/{machine.system_id}/",
            "system_id": machine.system_id, "hostname": machine.hostname,
            "fqdn": machine.fqdn, "domain": self.domain(machine.domain),
            "description": machine.description,
            "tag_names": list(machine.tags), "owner": machine.owner,
            "owner_data": dict(machine.owner_data), "osystem": machine.osystem,
            "distro_series": machine.distro_series, "architecture": machine.architecture,
            "hwe_kernel": machine.hwe_kernel, "min_hwe_kernel": machine.min_hwe_kernel,
            "memory": machine.memory, "cpu_count": machine.cpu_count,
            "cpu_speed": machine.cpu_speed, "storage": sum(d.size for d in machine.block_devices)
            / 1000**2,
            "ip_addresses": machine.ip_addresses, "power_state": machine.power_state,
            "power_type": machine.power_type, "status": int(machine.status),
            "status_name": machine.status.label, "status_message": machine.status_message,
            "status_action": "", "node_type": int(machine.node_type),
            "node_type_name": "Machine", "netboot": machine.netboot, "locked": machine.locked,
            "disable_ipv4": machine.disable_ipv4, "zone": self.zone(machine.zone),
            "pool": self.pool(machine.pool),
            "interface_set": nics, "blockdevice_set": disks,
            "physicalblockdevice_set": disks, "virtualblockdevice_set": [],
            "boot_interface": _find(nics, boot_nic.id if boot_nic else None),
            "boot_disk": _find(disks, boot_disk.id if boot_disk else None),
            "hardware_info": machine.hardware_info or UNKNOWN_HARDWARE,
            "agent_name": machine.agent_name, "special_filesystems": [],
            "swap_size": None, "address_ttl": None, "bios_boot_method": "pxe",
            "commissioning_status": 0, "commissioning_status_name": "Pending",
            "testing_status": 0, "testing_status_name": "Pending",
        }

    def device(self, device: Machine, parent: str | None) -> JSON:
        return {
            "resource_uri": f"{API_ROOT}/devices/{device.system_id}/",
            "system_id": device.system_id, "hostname": device.hostname,
            "fqdn": device.fqdn, "domain": domain_json(device.domain),
            "owner": device.owner, "owner_data": dict(device.owner_data),
            "tag_names": list(device.tags), "zone": zone_json(device.zone),
            "ip_addresses": device.ip_addresses, "parent": parent, "node_type": 1,
            "node_type_name": "Device",
            "interface_set": [self.interface(device, nic) for nic in device.interfaces],
        }


def _find(items: list[JSON], item_id: int | None) -> JSON | None:
    return next((item for item in items if item["id"] == item_id), None)


def _partition_json(device_uri: str, partition: Partition) -> JSON:
    return {"resource_uri": f"{device_uri}partition/{partition.id}", "id": partition.id,
            "path": partition.path, "used_for": partition.used_for, "size": partition.size,
            "uuid": partition.uuid, "type": "partition", "bootable": False,
            "filesystem": _filesystem_json(partition.filesystem)}


def _filesystem_json(filesystem: Filesystem | None) -> JSON | None:
    if filesystem is None:
        return None
    return {"fstype": filesystem.fstype, "uuid": filesystem.uuid,
            "mount_point": filesystem.mount_point, "label": None, "mount_options": None}


UNKNOWN_HARDWARE: JSON = {key: "Unknown" for key in (
    "system_vendor", "system_product", "system_version", "system_serial", "cpu_model",
    "mainboard_vendor", "mainboard_product", "mainboard_firmware_version",
    "mainboard_firmware_date")}
