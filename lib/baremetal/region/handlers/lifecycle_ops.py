"""What the machine operations do to the store: deploy, release, commission, test, abort,
mark broken/fixed, lock, and power requests. Every status change goes through
`transition_machines` (the lifecycle table) and leaves an event; every power action is a
durable power job that a worker runs. Work on the machine itself (commissioning, tests,
deployment, erasing) happens when it PXE boots: the rack serves the boot decision for its
status, and it reports through the metadata API (`region/metadata.py`)."""

from __future__ import annotations

import base64
import binascii

from sqlalchemy import Connection, select

from baremetal.metadata import scripts
from baremetal.models import Machine, NodeStatus
from baremetal.storage.layouts import LayoutError, parse_size
from baremetal.store import schema as t
from baremetal.store.catalog import record_event
from baremetal.store.config import get_config, series_image_name
from baremetal.store.images import available_names, get_activity
from baremetal.store.ipam import SubnetFull, assign_auto_addresses, release_auto_addresses
from baremetal.store.machines import transition_machines, update_machine
from baremetal.store.power import enqueue_power_job
from baremetal.store.scripts import start_script_set
from baremetal.store.storage import apply_layout, plan_for

from ..errors import BadRequest, Conflict, Forbidden, ServiceUnavailable

S = NodeStatus
PXE = "powering on to PXE boot"
# What a release (and a finished erase) resets.
RELEASED = {"owner_id": None, "agent_name": "", "owner_data": {}, "osystem": "",
            "distro_series": "", "hwe_kernel": None, "user_data": None, "netboot": True}
TESTABLE = {S.NEW, S.READY, S.BROKEN, S.FAILED_TESTING, S.FAILED_COMMISSIONING}
RELEASABLE = {S.ALLOCATED, S.RESERVED, S.BROKEN, S.DEPLOYING, S.DEPLOYED,
              S.FAILED_DEPLOYMENT, S.FAILED_DISK_ERASING, S.FAILED_RELEASING}
ABORT_TO = {S.COMMISSIONING: S.NEW, S.DEPLOYING: S.ALLOCATED, S.TESTING: S.READY,
            S.DISK_ERASING: S.FAILED_DISK_ERASING}
SERIES = {"focal": "20.04", "jammy": "22.04", "noble": "24.04"}  # Ubuntu's numbers


def require_owner_or_admin(call, machine: Machine, verb: str) -> None:  # type: ignore[no-untyped-def]
    user = call.viewer
    if not user.is_superuser and machine.owner != user.username:
        raise Forbidden(f"You don't have permission to {verb} this machine: it is not yours.")


def _refuse_locked(machine: Machine, verb: str) -> None:
    if machine.locked:
        raise Conflict(f"Can't {verb} a machine that is locked: unlock it first.")


def _wrong_state(verb: str, machine: Machine) -> Conflict:
    return Conflict(f"Can't {verb} a machine that is in the '{machine.status.label}' state")


def _image_progress(conn: Connection, name: str) -> str | None:
    """How far a running build or import of `name` is, if one runs."""
    for activity in (get_activity(conn, f"build:{name}"), get_activity(conn, "import")):
        if activity and activity["state"] in ("running", "stopping"):
            done = activity["done_bytes"] / (1 << 20)
            total = activity["total_bytes"] / (1 << 20)
            kind = "built" if activity["name"].startswith("build:") else "imported"
            amount = f"{done:.0f} of {total:.0f} MiB" if total else f"{done:.0f} MiB so far"
            return f"it is being {kind} ({activity['step']}; {amount})"
    return None


def choose_image(conn: Connection, value: str | None) -> tuple[str, str]:
    """(osystem, series) of an available image for `distro_series`: `debian/bookworm`,
    `bookworm`, `ubuntu/22.04`, `22.04`, `custom/NAME`; the region's default when empty.
    Anything else is refused, naming what is available; an image still being built or
    imported is a 409 saying how far it is."""
    available = available_names(conn)
    wanted = value.strip() if value else series_image_name(
        get_config(conn, "default_osystem"), get_config(conn, "default_distro_series"))
    osystem, _, series = wanted.rpartition("/")
    series = {number: name for name, number in SERIES.items()}.get(series, series)
    if osystem:
        candidates = [f"{osystem}/{series}"]
    else:
        candidates = [name for name in available if name.rpartition("/")[2] == series] or \
            [f"{get_config(conn, 'default_osystem')}/{series}"]
    for name in candidates:
        if name in available:
            found_os, _, found_series = name.partition("/")
            return found_os, found_series
    for name in candidates:
        progress = _image_progress(conn, name)
        if progress:
            raise Conflict(f"{name} is not ready yet: {progress}. Deploy when `baremetal "
                           "images list` shows it ready.")
    listed = ", ".join(available) if available else (
        "none yet: build one with `baremetal images build --os debian/bookworm`, or import "
        "or upload one")
    raise BadRequest(f"distro_series: '{wanted}' is not an available image (available: "
                     f"{listed}).")


def decode_user_data(value: str | None) -> bytes | None:
    if value is None or value == "":
        return None
    try:
        return base64.b64decode(value.encode("latin-1"), validate=False)
    except (binascii.Error, ValueError):
        raise BadRequest("user_data: must be base64 encoded.") from None


def deploy(call, conn: Connection, machine: Machine) -> None:  # type: ignore[no-untyped-def]
    _refuse_locked(machine, "deploy")
    p = call.params
    osystem, series = choose_image(conn, p.get("distro_series"))
    user_data = decode_user_data(p.get("user_data"))
    if p.boolean("install_to_disk", False):
        raise BadRequest("install_to_disk: deployment to disk is not available yet; "
                         "deploy ephemerally (the default).")
    user = call.viewer
    comment = p.get("comment") or ""
    if machine.status is S.READY:
        transition_machines(conn, [machine.id], S.ALLOCATED, username=user.username,
                            comment=comment, expected=S.READY,
                            values={"owner_id": user.id})
    elif machine.status is not S.ALLOCATED:
        raise _wrong_state("deploy", machine)
    else:
        require_owner_or_admin(call, machine, "deploy")
    try:  # every AUTO link gets its address now, or the deploy changes nothing
        assign_auto_addresses(conn, machine.id)
    except SubnetFull as error:
        raise Conflict(f"Can't deploy: {error}") from None
    transition_machines(conn, [machine.id], S.DEPLOYING, username=user.username,
                        comment=comment, message=f"Deploying: {PXE}")
    _power_job(conn, machine, "on", user.username)
    update_machine(conn, machine.id, osystem=osystem, distro_series=series,
                   hwe_kernel=p.get("hwe_kernel") or None, user_data=user_data)


def release(call, conn: Connection, machine: Machine) -> None:  # type: ignore[no-untyped-def]
    if machine.status is S.READY:
        return
    _refuse_locked(machine, "release")
    if machine.status not in RELEASABLE:
        raise _wrong_state("release", machine)
    p = call.params
    erase = any(p.boolean(flag) for flag in ("erase", "secure_erase", "quick_erase"))
    username = call.viewer.username
    comment = p.get("comment") or ""
    if erase:  # as MAAS: straight to Disk erasing; Ready when the erase program reports
        if not machine.power_type:
            raise ServiceUnavailable("Erasing needs the machine powered on: set its power "
                                     "type first, or release without erase.")
        transition_machines(conn, [machine.id], S.DISK_ERASING, username=username,
                            comment=comment, message=f"Erasing disks: {PXE}")
        _power_job(conn, machine, "cycle" if machine.power_state.value == "on" else "on",
                   username)
        return
    transition_machines(conn, [machine.id], S.RELEASING, username=username, comment=comment)
    release_auto_addresses(conn, machine.id)
    _power_job(conn, machine, "off", username)
    transition_machines(conn, [machine.id], S.READY, username=username, comment=comment,
                        values=RELEASED)


def set_storage_layout(call, conn: Connection, machine: Machine) -> None:  # type: ignore[no-untyped-def]
    """storage_layout (flat, lvm, blank), boot_size, root_size, root_device: the machine's
    disks are reset and the layout is applied to the boot disk (or root_device). Only
    while Ready or Allocated, as in MAAS; a layout that does not fit is a 400."""
    if machine.status not in (S.READY, S.ALLOCATED):
        raise Conflict(f"Cannot change the storage layout of a machine that is in the "
                       f"'{machine.status.label}' state: it must be Ready or Allocated.")
    if machine.status is S.ALLOCATED:
        require_owner_or_admin(call, machine, "change the storage layout of")
    elif not call.viewer.is_superuser:
        raise Forbidden("You don't have permission to change the storage layout of a "
                        "machine that is not yours.")
    p = call.params
    try:
        plan = plan_for(conn, machine.id, (p.get("storage_layout") or "flat").lower(),
                        root_device=p.get("root_device") or None,
                        boot_size=parse_size(p.get("boot_size"), "boot_size"),
                        root_size=parse_size(p.get("root_size"), "root_size"))
    except LayoutError as error:
        raise BadRequest(str(error)) from None
    apply_layout(conn, machine.id, plan)


def release_machines(call, system_ids: list[str], comment: str | None) -> None:  # type: ignore[no-untyped-def]
    from baremetal.store.machines import load_machines

    with call.store.write() as conn:
        ids = select(t.machines.c.id).where(t.machines.c.system_id.in_(system_ids))
        for machine in load_machines(conn, ids):
            release(call, conn, machine)


def testing_scripts(value: str | None, default: tuple[str, ...] = ()) -> list[str]:
    """`testing_scripts=cpu-stress,disk-read` (or "none"); unknown names are refused."""
    if value is None or value.strip() == "":
        return list(default)
    names = [name.strip() for name in value.split(",") if name.strip()]
    if names == ["none"]:
        return []
    unknown = [name for name in names if name not in scripts.TESTING]
    if unknown:
        raise BadRequest(f"testing_scripts: unknown script(s) {', '.join(unknown)} "
                         f"(available: {', '.join(scripts.TESTING)}).")
    return names


def commission(call, conn: Connection, machine: Machine) -> None:  # type: ignore[no-untyped-def]
    """A new commissioning run (inventory, BMC credentials unless skip_bmc_config), then
    the `testing_scripts` if any, on a PXE boot."""
    p = call.params
    for flag in ("enable_ssh", "skip_networking", "skip_storage"):
        p.boolean(flag)  # accepted as MAAS does; the ephemeral image needs neither
    start_commissioning(conn, machine, tests=testing_scripts(p.get("testing_scripts")),
                        configure_bmc=not p.boolean("skip_bmc_config"),
                        username=call.viewer.username, comment=p.get("comment") or "")


def start_commissioning(conn: Connection, machine: Machine, *, tests: list[str],
                        configure_bmc: bool, username: str, comment: str = "") -> None:
    """The one way commissioning starts (the API and the charm's action)."""
    if machine.status not in (S.NEW, S.READY, S.FAILED_COMMISSIONING, S.BROKEN,
                              S.FAILED_TESTING, S.MISSING):
        raise _wrong_state("commission", machine)
    if not machine.power_type:
        raise ServiceUnavailable("This machine has no power type: set power_type and "
                                 "power_parameters, or power it on by hand to PXE boot.")
    start_script_set(conn, machine.id, "commissioning", list(scripts.COMMISSIONING),
                     {"testing_scripts": tests, "configure_bmc": configure_bmc})
    transition_machines(conn, [machine.id], S.COMMISSIONING, username=username,
                        comment=comment, message=f"Commissioning: {PXE}")
    _power_job(conn, machine, "on", username)


def test(call, conn: Connection, machine: Machine) -> None:  # type: ignore[no-untyped-def]
    """Run `testing_scripts` (default: all) on a PXE boot; the machine returns to where it
    was (New or Ready) when they pass, or becomes Failed testing."""
    p = call.params
    names = testing_scripts(p.get("testing_scripts"), scripts.DEFAULT_TESTS)
    if not names:
        raise BadRequest("testing_scripts: choose at least one test.")
    if machine.status not in TESTABLE:
        raise _wrong_state("test", machine)
    if not machine.power_type:
        raise ServiceUnavailable("This machine has no power type: set power_type and "
                                 "power_parameters first.")
    start_script_set(conn, machine.id, "testing", names,
                     {"return_to": int(S.NEW if machine.status is S.NEW else S.READY)})
    transition_machines(conn, [machine.id], S.TESTING, username=call.viewer.username,
                        comment=p.get("comment") or "", message=f"Testing: {PXE}")
    _power_job(conn, machine, "on", call.viewer.username)


def abort(call, conn: Connection, machine: Machine) -> None:  # type: ignore[no-untyped-def]
    target = ABORT_TO.get(machine.status)
    if target is None:
        raise _wrong_state("abort", machine)
    require_owner_or_admin(call, machine, "abort")
    transition_machines(conn, [machine.id], target, username=call.viewer.username,
                        comment=call.params.get("comment") or "",
                        message=f"Aborted {machine.status.label.lower()}")


def mark_broken(call, conn: Connection, machine: Machine) -> None:  # type: ignore[no-untyped-def]
    require_owner_or_admin(call, machine, "mark broken")
    comment = call.params.get("comment") or ""
    transition_machines(conn, [machine.id], S.BROKEN, username=call.viewer.username,
                        comment=comment, message=comment or "Marked broken")


def mark_fixed(call, conn: Connection, machine: Machine) -> None:  # type: ignore[no-untyped-def]
    call.require_admin()
    if machine.status is not S.BROKEN:
        raise _wrong_state("mark fixed", machine)
    transition_machines(conn, [machine.id], S.READY, username=call.viewer.username,
                        comment=call.params.get("comment") or "")


def set_lock(call, conn: Connection, machine: Machine, locked: bool) -> None:  # type: ignore[no-untyped-def]
    require_owner_or_admin(call, machine, "lock" if locked else "unlock")
    if locked and machine.status is not S.DEPLOYED:
        raise _wrong_state("lock", machine)
    update_machine(conn, machine.id, locked=locked)
    record_event(conn, machine.id, "Locked" if locked else "Unlocked",
                 call.params.get("comment") or "", call.viewer.username)


def request_power(call, conn: Connection, machine: Machine, state: str) -> None:  # type: ignore[no-untyped-def]
    require_owner_or_admin(call, machine, f"power {state}")
    if state == "off":
        _refuse_locked(machine, "power off")
        stop_mode = call.params.get("stop_mode") or "hard"
        if stop_mode not in ("soft", "hard"):
            raise BadRequest("stop_mode: must be 'soft' or 'hard'.")
    decode_user_data(call.params.get("user_data"))
    if not machine.power_type:
        raise ServiceUnavailable("This machine has no power type: set power_type and "
                                 "power_parameters first.")
    _power_job(conn, machine, state, call.viewer.username)


def _power_job(conn: Connection, machine: Machine, action: str, username: str) -> None:
    """Queue the action for a power worker, and say so in the machine's events."""
    if not machine.power_type:
        return
    enqueue_power_job(conn, machine.id, action, username)
    record_event(conn, machine.id, f"Power {action} requested",
                 "Queued for the power worker.", username)
