"""Script runs (commissioning, testing) and their results, and what commissioning learns
written into the machine's record."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from baremetal.metadata.inventory import Inventory
from baremetal.models.machine import allocation_cost

from . import schema as t
from .engine import utcnow

KINDS = ("commissioning", "testing")


def start_script_set(conn: Connection, machine_id: int, kind: str, names: Sequence[str],
                     options: dict[str, Any] | None = None) -> int:
    """A new run of `names` on the machine, every script pending."""
    set_id = conn.execute(insert(t.script_sets).values(
        machine_id=machine_id, kind=kind, created=utcnow(),
        options=options or {})).inserted_primary_key[0]
    if names:
        conn.execute(insert(t.script_results), [
            {"set_id": set_id, "name": name, "status": "pending"} for name in names])
    return set_id


def current_set(conn: Connection, machine_id: int, kind: str):  # type: ignore[no-untyped-def]
    s = t.script_sets
    return conn.execute(select(s).where(s.c.machine_id == machine_id, s.c.kind == kind)
                        .order_by(s.c.id.desc()).limit(1)).first()


def script_names(conn: Connection, set_id: int) -> list[str]:
    r = t.script_results
    return list(conn.execute(select(r.c.name).where(r.c.set_id == set_id).order_by(r.c.id))
                .scalars())


def record_result(conn: Connection, set_id: int, name: str, exit_status: int,
                  runtime: float | None, output: bytes) -> str:
    """Store one script's result (inserted if the run did not list it); its status."""
    r = t.script_results
    now = utcnow()
    status = "passed" if exit_status == 0 else "failed"
    values = {"status": status, "exit_status": exit_status, "runtime": runtime,
              "output": output, "ended": now}
    done = conn.execute(update(r).where(r.c.set_id == set_id, r.c.name == name).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(r).values(set_id=set_id, name=name, **values))
    return status


def finish_set(conn: Connection, set_id: int) -> dict[str, str]:
    """Close the run: scripts that never reported are `aborted`. Returns name -> status."""
    r = t.script_results
    conn.execute(update(r).where(r.c.set_id == set_id, r.c.status.in_(("pending", "running")))
                 .values(status="aborted", ended=utcnow()))
    conn.execute(update(t.script_sets).where(t.script_sets.c.id == set_id)
                 .values(ended=utcnow()))
    return dict(conn.execute(select(r.c.name, r.c.status).where(r.c.set_id == set_id)).all())


def set_outputs(conn: Connection, set_id: int) -> dict[str, str]:
    r = t.script_results
    rows = conn.execute(select(r.c.name, r.c.output).where(r.c.set_id == set_id))
    return {row.name: bytes(row.output or b"").decode("utf-8", "replace") for row in rows}


def list_script_sets(conn: Connection, machine_ids: Sequence[int],
                     kind: str | None = None) -> list[dict[str, Any]]:
    """Runs with their results, newest first: two queries whatever the number."""
    s, r, m = t.script_sets, t.script_results, t.machines
    query = (select(s, m.c.system_id).join(m, m.c.id == s.c.machine_id)
             .where(s.c.machine_id.in_(machine_ids)).order_by(s.c.id.desc()))
    if kind:
        query = query.where(s.c.kind == kind)
    sets = conn.execute(query).all()
    results = conn.execute(select(r).where(r.c.set_id.in_([x.id for x in sets]))
                           .order_by(r.c.id)).all() if sets else []
    by_set: dict[int, list[Any]] = {}
    for row in results:
        by_set.setdefault(row.set_id, []).append(row)
    out = []
    for x in sets:
        rows = by_set.get(x.id, [])
        statuses = {row.status for row in rows}
        overall = ("failed" if "failed" in statuses else "aborted" if "aborted" in statuses
                   else "pending" if statuses & {"pending", "running"} else "passed")
        out.append({
            "id": x.id, "system_id": x.system_id, "result_type": x.kind,
            "status_name": overall.capitalize(), "status": overall,
            "started": x.created.isoformat(timespec="seconds") + "Z",
            "ended": x.ended.isoformat(timespec="seconds") + "Z" if x.ended else None,
            "results": [{
                "id": row.id, "name": row.name, "status": row.status,
                "status_name": row.status.capitalize(), "exit_status": row.exit_status,
                "runtime": row.runtime, "output": bytes(row.output or b""),
                "ended": row.ended.isoformat(timespec="seconds") + "Z" if row.ended else None,
            } for row in rows]})
    return out


def apply_inventory(conn: Connection, machine_id: int, found: Inventory,
                    boot_address: str | None = None) -> None:
    """Write what commissioning found: CPU, memory, architecture, hardware_info, disks
    (replaced) and NICs (physical ones kept by MAC with their links, new ones added,
    vanished ones removed); the NIC that booted becomes the boot interface and, if it has
    no link yet, is linked AUTO to the subnet it booted on (`boot_address`), as in MAAS."""
    m, i, b = t.machines, t.interfaces, t.block_devices
    values: dict[str, Any] = {"cpu_count": found.cpu_count, "cpu_speed": found.cpu_speed,
                              "memory": found.memory, "hardware_info": found.hardware_info(),
                              "cost": allocation_cost(found.cpu_count, found.memory),
                              "updated": utcnow()}
    if found.architecture:
        values["architecture"] = found.architecture
    conn.execute(delete(b).where(b.c.machine_id == machine_id))
    disk_ids = []
    for disk in found.block_devices:
        disk_ids.append(conn.execute(insert(b).values(
            machine_id=machine_id, name=disk["name"], path=disk["path"], model=disk["model"],
            serial=disk["serial"], size=disk["size"], block_size=512,
            rotational=disk["rotational"], tags=["rotary" if disk["rotational"] else "ssd"],
        )).inserted_primary_key[0])
    values["boot_disk_id"] = disk_ids[0] if disk_ids else None
    existing = {row.mac_address: row.id for row in conn.execute(
        select(i.c.id, i.c.mac_address).where(i.c.machine_id == machine_id,
                                              i.c.type == "physical"))}
    seen = set()
    for nic in found.interfaces:
        seen.add(nic["mac"])
        columns = {"name": nic["name"], "link_speed": nic["speed"],
                   "tags": [nic["driver"]] if nic["driver"] else []}
        if nic["mac"] in existing:
            nic_id = existing[nic["mac"]]
            conn.execute(update(i).where(i.c.id == nic_id).values(**columns))
        else:
            nic_id = conn.execute(insert(i).values(
                machine_id=machine_id, type="physical", mac_address=nic["mac"], enabled=True,
                mtu=1500, parents=[], **columns)).inserted_primary_key[0]
        if nic["boot"]:
            values["boot_interface_id"] = nic_id
    gone = [nic_id for mac, nic_id in existing.items() if mac not in seen]
    if gone and found.interfaces:
        conn.execute(delete(i).where(i.c.id.in_(gone)))
    conn.execute(update(m).where(m.c.id == machine_id).values(**values))
    if boot_address and values.get("boot_interface_id"):
        _link_boot_interface(conn, values["boot_interface_id"], boot_address)


def _link_boot_interface(conn: Connection, interface_id: int, address: str) -> None:
    """The address the NIC booted with is what it was `discovered` with; and a NIC with no
    link yet is linked AUTO to that subnet (the operator's links stay as they are)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return
    link = t.ip_links
    for subnet in conn.execute(select(t.subnets.c.id, t.subnets.c.cidr, t.subnets.c.vlan_id)):
        if ip in ipaddress.ip_network(subnet.cidr, strict=False):
            conn.execute(update(t.interfaces).where(t.interfaces.c.id == interface_id).values(
                discovered=[{"ip_address": str(ip), "subnet_id": subnet.id}]))
            if conn.execute(select(link.c.id).where(link.c.interface_id == interface_id)
                            ).first() is None:
                conn.execute(insert(link).values(interface_id=interface_id, mode="auto",
                                                 subnet_id=subnet.id))
                conn.execute(update(t.interfaces).where(t.interfaces.c.id == interface_id)
                             .values(vlan_id=subnet.vlan_id))
            return


# SSH keys of users, installed by deployment.

def add_ssh_key(conn: Connection, user_id: int, key: str) -> dict[str, Any]:
    key_id = conn.execute(insert(t.ssh_keys).values(
        user_id=user_id, key=key, created=utcnow())).inserted_primary_key[0]
    return {"id": key_id, "key": key,
            "resource_uri": f"/MAAS/api/2.0/account/prefs/sshkeys/{key_id}/"}


def list_ssh_keys(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    k = t.ssh_keys
    return [{"id": row.id, "key": row.key,
             "resource_uri": f"/MAAS/api/2.0/account/prefs/sshkeys/{row.id}/"}
            for row in conn.execute(select(k).where(k.c.user_id == user_id).order_by(k.c.id))]
