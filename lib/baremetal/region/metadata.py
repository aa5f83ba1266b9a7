"""The metadata API (/MAAS/metadata/) for booting machines. A machine authenticates with
its own token from the kernel command line (`Authorization: Bearer <token>`); an unknown
machine may only enlist, with the enlistment token. Racks forward it from their HTTP port.

    GET  latest/script      the program to run now (from the machine's status)
    POST latest/signal      results, multipart: status=WORKING|OK|FAILED, one file per
                            script output, exit_status.<name>, runtime.<name>, error
    POST latest/heartbeat   still alive: message
    GET  latest/user-data   the user data given at deploy
    GET  latest/ssh-keys    the owner's SSH keys
    POST latest/enlist      (enlistment token) the enlistment scripts' outputs

Every report pushes the machine's deadline out by the report timeout of its status; the
lifecycle monitor fails a machine that stops reporting, saying what it last reported.
"""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import Connection, select, update

from baremetal import lifecycle
from baremetal.boot.decisions import NETBOOT_STATUSES, REAL_OS_STATUSES, preseed_nonce
from baremetal.metadata import scripts
from baremetal.metadata.inventory import parse, redact
from baremetal.models import NodeStatus
from baremetal.network.netplan import render_network_config
from baremetal.storage.layouts import LayoutError
from baremetal.store import schema as t
from baremetal.store.boot import enlistment_token
from baremetal.store.catalog import record_event
from baremetal.store.engine import utcnow
from baremetal.store.ipam import release_auto_addresses
from baremetal.store.machines import (
    NewMachine,
    create_machines,
    load_machines,
    transition_machines,
)
from baremetal.store.routes import routes_by_source
from baremetal.store.scripts import (
    apply_inventory,
    current_set,
    finish_set,
    list_ssh_keys,
    record_result,
    script_names,
    set_outputs,
    start_script_set,
)
from baremetal.store.storage import apply_layout, plan_for

from .auth import oauth_parameters
from .errors import BadRequest, Conflict, NotFound, Unauthorized
from .handlers.lifecycle_ops import RELEASED

S = NodeStatus
metadata_api = Blueprint("metadata_api", __name__, url_prefix="/MAAS/metadata")
ENLIST = "enlist"
PURPOSE = {S.COMMISSIONING: "commission", S.TESTING: "test", S.DEPLOYING: "deploy",
           S.DISK_ERASING: "erase"}
KIND = {S.COMMISSIONING: "commissioning", S.TESTING: "testing"}


def _store():  # type: ignore[no-untyped-def]
    return current_app.extensions["baremetal.store"]


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status, mimetype="text/plain")


def _oauth_machine(conn: Connection, header: str):  # type: ignore[no-untyped-def]
    """cloud-init's MAAS datasource signs with OAuth 1 PLAINTEXT: the token key is the
    machine's system_id and the token secret its metadata token."""
    params = oauth_parameters(header) or {}
    if params.get("oauth_signature_method", "PLAINTEXT") != "PLAINTEXT":
        raise Unauthorized("Unsupported OAuth signature method: use PLAINTEXT.")
    consumer_secret, sep, secret = params.get("oauth_signature", "").partition("&")
    m, mt = t.machines, t.machine_tokens
    row = conn.execute(select(m, mt.c.token.label("metadata_token"))
                       .join(mt, mt.c.machine_id == m.c.id)
                       .where(m.c.system_id == params.get("oauth_token", ""))).first()
    if row is None or not sep or consumer_secret or not hmac.compare_digest(
            row.metadata_token.encode(), secret.encode()):
        raise Unauthorized("Unknown machine credentials.")
    return row


def _caller(conn: Connection):  # type: ignore[no-untyped-def]
    """The machine row the token belongs to, or ENLIST for the enlistment token."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "oauth":
        return _oauth_machine(conn, header)
    if scheme != "Bearer" or not token:
        raise Unauthorized("Machines authenticate with their token (Bearer or OAuth).")
    m, mt = t.machines, t.machine_tokens
    row = conn.execute(select(m).join(mt, mt.c.machine_id == m.c.id)
                       .where(mt.c.token == token)).first()
    if row is not None:
        return row
    if hmac.compare_digest((enlistment_token(conn, create=False) or "").encode(),
                           token.encode()):
        return ENLIST
    raise Unauthorized("Unknown machine token.")


def _machine(conn: Connection):  # type: ignore[no-untyped-def]
    caller = _caller(conn)
    if caller == ENLIST:
        raise Unauthorized("The enlistment token only enlists.")
    return caller


def report_timeout(status: S) -> timedelta:
    configured = current_app.config.get("REPORT_TIMEOUTS", {})
    return configured.get(status) or lifecycle.DEFAULT_TIMEOUTS.get(status, timedelta(0))


def _reported(conn: Connection, machine, where: str) -> None:  # type: ignore[no-untyped-def]
    """The machine is alive: push its deadline out and say where it is."""
    status = S(machine.status)
    values: dict[str, Any] = {"status_message": f"{status.label}: {where}"}
    if status in lifecycle.FAILURE_STATUS:
        values["status_deadline"] = utcnow() + report_timeout(status)
    conn.execute(update(t.machines).where(t.machines.c.id == machine.id,
                                          t.machines.c.status == machine.status)
                 .values(**values))


@metadata_api.get("/latest/script")
def script() -> Response:
    with _store().write() as conn:
        caller = _caller(conn)
        if caller == ENLIST:
            return _text(scripts.render("enlist"))
        status = S(caller.status)
        purpose = PURPOSE.get(status, "poweroff")
        names, options = [], {}
        if status in KIND:
            found = current_set(conn, caller.id, KIND[status])
            if found is not None:
                names, options = script_names(conn, found.id), dict(found.options or {})
        _reported(conn, caller, f"running the {purpose} scripts")
    return _text(scripts.render(
        purpose, system_id=caller.system_id, names=names,
        configure_bmc=bool(options.get("configure_bmc")),
        stress_seconds=int(current_app.config.get("STRESS_SECONDS", 2))))


@metadata_api.post("/latest/heartbeat")
def heartbeat() -> Response:
    message = (request.form.get("message") or "alive")[:200]
    with _store().write() as conn:
        _reported(conn, _machine(conn), message)
    return _text("ok")


# cloud-init's MAAS datasource: meta-data and user-data under a dated version or latest.
VERSIONS = ("2012-03-01", "2009-04-04", "latest")
META_DATA = ("instance-id", "local-hostname", "public-keys", "vendor-data")


def _version(version: str) -> None:
    if version not in VERSIONS:
        raise NotFound(f"Unknown metadata version '{version}'.")


@metadata_api.get("/<version>/meta-data/")
def meta_data_index(version: str) -> Response:
    _version(version)
    return _text("\n".join(META_DATA) + "\n")


@metadata_api.get("/<version>/meta-data/<key>")
def meta_data(version: str, key: str) -> Response:
    _version(version)
    with _store().read() as conn:
        machine = _machine(conn)
        keys = _owner_keys(conn, machine) if key == "public-keys" else ""
    if key == "instance-id":
        return _text(machine.system_id)
    if key == "local-hostname":
        return _text(machine.hostname)
    if key == "public-keys":
        if not keys:
            raise NotFound("The owner has no SSH keys.")
        return _text(keys)
    raise NotFound(f"No meta-data '{key}'.")


@metadata_api.get("/<version>/user-data")
def user_data(version: str) -> Response:
    """In the ephemeral environment (commissioning, testing, erasing, rescue), the program
    that runs the region's scripts; otherwise the user data given at deploy."""
    _version(version)
    with _store().read() as conn:
        machine = _machine(conn)
    if S(machine.status) in REAL_OS_STATUSES:
        return Response(scripts.cloud_init_runner(), mimetype="application/octet-stream")
    if not machine.user_data:
        return _text("", 404)
    return Response(bytes(machine.user_data), mimetype="application/octet-stream")


@metadata_api.post("/<version>/")
def version_operation(version: str) -> Response:
    """`op=netboot_off`: the installed OS boots from its disk from now on (until release
    turns netboot back on). MAAS's other operations here are served under latest/."""
    _version(version)
    if request.args.get("op", request.form.get("op")) != "netboot_off":
        raise BadRequest("Unrecognised signature: only op=netboot_off.")
    with _store().write() as conn:
        machine = _machine(conn)
        conn.execute(update(t.machines).where(t.machines.c.id == machine.id)
                     .values(netboot=False))
        record_event(conn, machine.id, "Netboot off",
                     "The machine boots from its disk from now on.", None)
    return _text("OK")


@metadata_api.get("/<version>/network-config")
def network_config(version: str) -> Response:
    """The machine's network configuration (cloud-init network config v2, netplan's
    schema), from its interfaces, links and subnets: what the installer writes into the
    deployed OS."""
    _version(version)
    with _store().read() as conn:
        machine = _machine(conn)
        [loaded] = load_machines(conn, [machine.id])
        routes = routes_by_source(conn)
    return Response(json.dumps({"network": render_network_config(loaded, routes)}, indent=1)
                    + "\n", mimetype="application/yaml")


@metadata_api.get("/latest/by-id/<system_id>/<nonce>/")
def preseed(system_id: str, nonce: str) -> Response:
    """The cloud-config a netbooting machine's cloud-init reads from the kernel command
    line (`cloud-config-url`): the MAAS datasource with the machine's credentials and the
    status webhook. Anonymous, as cloud-init fetches it before it has credentials, but
    only with the nonce of the machine's current boot, and only while it netboots."""
    if request.args.get("op") != "get_preseed":
        raise BadRequest("Unrecognised signature: only op=get_preseed.")
    m, mt = t.machines, t.machine_tokens
    with _store().read() as conn:
        row = conn.execute(select(m.c.system_id, m.c.status, mt.c.token)
                           .join(mt, mt.c.machine_id == m.c.id)
                           .where(m.c.system_id == system_id)).first()
    if row is None or S(row.status) not in NETBOOT_STATUSES \
            or not hmac.compare_digest(preseed_nonce(row.token, row.system_id, row.status),
                                       nonce):
        raise NotFound("No preseed for this machine now.")
    host = request.headers.get("X-Forwarded-Host") or request.host
    base = f"http://{host}/MAAS/metadata/"
    credentials = {"consumer_key": row.system_id, "token_key": row.system_id,
                   "token_secret": row.token}
    config = {"datasource": {"MAAS": {"metadata_url": base, **credentials}},
              "reporting": {"maas": {"type": "webhook",
                                     "endpoint": f"{base}status/{row.system_id}",
                                     **credentials}}}
    return _text("#cloud-config\n" + json.dumps(config, indent=1) + "\n")


@metadata_api.post("/status/<system_id>")
def status_event(system_id: str) -> Response:
    """cloud-init's (and an installer's) reporting webhook: JSON events. A report pushes
    the deadline out; while deploying, a top-level FAIL fails the deployment and
    cloud-init's `modules-final` finishing makes the machine Deployed."""
    with _store().read() as conn:
        _machine(conn)  # credentials first: 401 before any word about the body
    try:
        event = json.loads(request.get_data() or b"{}")
    except ValueError:
        raise BadRequest("The body is not JSON.") from None
    if not isinstance(event, dict):
        raise BadRequest("The body is not a JSON object.")
    missing = [k for k in ("event_type", "origin", "name", "description") if k not in event]
    if missing:
        raise BadRequest(f"Missing parameter(s) in the event: {', '.join(missing)}.")
    with _store().write() as conn:
        machine = _machine(conn)
        if machine.system_id != system_id:
            raise Unauthorized("These credentials are another machine's.")
        status = S(machine.status)
        name = str(event["name"])[:120]
        result = str(event.get("result", ""))
        if status in PURPOSE or status in REAL_OS_STATUSES:
            _reported(conn, machine, f"{event['origin']} {name} {event['event_type']}"
                      + (f" ({result})" if result else ""))
        if status is S.DEPLOYING and event["event_type"] == "finish" and "/" not in name:
            if result == "FAIL":
                reason = f"{event['origin']} {name} failed: {str(event['description'])[:200]}"
                transition_machines(conn, [machine.id], S.FAILED_DEPLOYMENT, expected=status,
                                    message=f"Failed deployment: {reason}", comment=reason)
            elif event["origin"] == "cloudinit" and name == "modules-final":
                # Deployed means usable: cloud-init has applied the user data, not merely
                # fetched it (MAAS flips on the fetch).
                transition_machines(conn, [machine.id], S.DEPLOYED, expected=status,
                                    message="Deployed: cloud-init finished "
                                            f"({result or 'SUCCESS'})")
    return Response(status=204)


@metadata_api.get("/latest/ssh-keys")
def ssh_keys() -> Response:
    with _store().read() as conn:
        return _text(_owner_keys(conn, _machine(conn)))


def _owner_keys(conn: Connection, machine) -> str:  # type: ignore[no-untyped-def]
    """The owner's SSH keys, one per line (empty without an owner)."""
    keys = list_ssh_keys(conn, machine.owner_id) if machine.owner_id else []
    return "".join(f"{key['key']}\n" for key in keys)


def _outputs() -> dict[str, bytes]:
    return {name: upload.read(1 << 20) for name, upload in request.files.items()}


@metadata_api.post("/latest/signal")
def signal() -> Response:
    status_field = request.form.get("status", "")
    if status_field not in ("WORKING", "OK", "FAILED", "TESTING"):
        raise BadRequest("status: must be one of WORKING, OK, FAILED, TESTING.")
    outputs = _outputs()
    with _store().write() as conn:
        machine = _machine(conn)
        status = S(machine.status)
        if status not in PURPOSE:
            raise Conflict(f"The machine is {status.label}: nothing is in progress.")
        found = current_set(conn, machine.id, KIND[status]) if status in KIND else None
        for name, output in outputs.items():
            _result(conn, machine, found, name, output)
        if status_field in ("WORKING", "TESTING"):
            names = ", ".join(outputs) or "working"
            _reported(conn, machine, f"reported {names}")
            return _text("continue")
        return _text(_finish(conn, machine, status, found, status_field == "OK",
                             request.form.get("error", "")[:500]))


def _result(conn: Connection, machine, found, name: str, output: bytes) -> None:  # type: ignore[no-untyped-def]
    if found is None:
        return  # deploy and erase keep no per-script results
    try:
        exit_status = int(request.form.get(f"exit_status.{name}", "0"))
        runtime = float(request.form.get(f"runtime.{name}", "0") or 0)
    except ValueError:
        raise BadRequest(f"exit_status.{name}/runtime.{name}: not a number.") from None
    text = output.decode("utf-8", "replace")
    if name == "05-bmc-config":
        bmc = parse({name: text}).bmc
        if bmc.get("power_pass"):  # commissioning made working credentials: record them
            conn.execute(update(t.machines).where(t.machines.c.id == machine.id).values(
                power_type=bmc["power_type"], power_parameters={
                    "power_address": bmc["power_address"], "power_user": bmc["power_user"],
                    "power_pass": bmc["power_pass"], "power_driver": "LAN_2_0"}))
            record_event(conn, machine.id, "BMC credentials set",
                         f"Created BMC user 'maas' on {bmc['power_address']}.", None)
        text = redact(text)
    record_result(conn, found.id, name[:255], exit_status, runtime, text.encode())


def _finish(conn: Connection, machine, status: S, found, ok: bool, error: str) -> str:  # type: ignore[no-untyped-def]
    """The run ended: move the machine on and tell it what to do next."""
    results = finish_set(conn, found.id) if found is not None else {}
    failed = sorted(name for name, result in results.items() if result != "passed")
    options = dict(found.options or {}) if found is not None else {}
    if not ok or failed:
        reason = (f"{', '.join(failed)} failed" if failed else error) or "the machine said so"
        target = lifecycle.FAILURE_STATUS[status]
        transition_machines(conn, [machine.id], target, expected=status,
                            message=f"{target.label}: {reason}", comment=reason)
        return "poweroff"
    if status is S.COMMISSIONING:
        booted_from = (request.headers.get("X-Forwarded-For") or request.remote_addr or ""
                       ).split(",")[0].strip()
        apply_inventory(conn, machine.id, parse(set_outputs(conn, found.id)), booted_from)
        _default_layout(conn, machine.id)
        tests = options.get("testing_scripts") or []
        if tests:
            start_script_set(conn, machine.id, "testing", tests, {"return_to": int(S.READY)})
            transition_machines(conn, [machine.id], S.TESTING, expected=status,
                                message="Testing: starting")
            return "continue"
        transition_machines(conn, [machine.id], S.READY, expected=status,
                            message="Commissioned")
        return "poweroff"
    if status is S.TESTING:
        target = S(options.get("return_to", int(S.READY)))
        transition_machines(conn, [machine.id], target, expected=status,
                            message=f"Tests passed: {', '.join(sorted(results))}")
        return "stay" if target is S.DEPLOYED else "poweroff"
    if status is S.DEPLOYING:
        transition_machines(conn, [machine.id], S.DEPLOYED, expected=status,
                            message="Deployed (ephemeral)")
        return "stay"
    release_auto_addresses(conn, machine.id)
    transition_machines(conn, [machine.id], S.READY, expected=status, values=RELEASED,
                        message="Disks erased; released")
    return "poweroff"


def _default_layout(conn: Connection, machine_id: int) -> None:
    """Commissioning applies the default (flat) layout to the boot disk, as MAAS does; a
    disk too small for it is said in an event, and commissioning still succeeds."""
    try:
        apply_layout(conn, machine_id, plan_for(conn, machine_id, "flat"))
    except LayoutError as error:
        record_event(conn, machine_id, "Storage layout not applied", str(error), None,
                     level="WARNING")


@metadata_api.post("/latest/enlist")
def enlist() -> Response:
    with _store().read() as conn:
        if _caller(conn) != ENLIST:
            raise Unauthorized("Enlisting needs the enlistment token.")
    outputs = {name: data.decode("utf-8", "replace") for name, data in _outputs().items()}
    found = parse(outputs)
    if not found.interfaces:
        raise BadRequest("enlist: the inventory has no network interface with a MAC.")
    with _store().write() as conn:
        i, m = t.interfaces, t.machines
        macs = [nic["mac"] for nic in found.interfaces]
        known = conn.execute(select(m.c.system_id).join(i, i.c.machine_id == m.c.id)
                             .where(i.c.mac_address.in_(macs)).limit(1)).first()
        if known is not None:
            return _text(known.system_id)  # enlisted before: nothing new
        boot = next((nic for nic in found.interfaces if nic["boot"]), found.interfaces[0])
        power = {k: v for k, v in found.bmc.items() if k != "power_type"}
        if power:
            power["power_driver"] = "LAN_2_0"
        [system_id] = create_machines(conn, [NewMachine(
            hostname=f"node-{boot['mac'].replace(':', '')[-6:]}",
            architecture=found.architecture or "amd64/generic",
            power_type=found.bmc.get("power_type", "") if power.get("power_pass") else "",
            power_parameters=power if power.get("power_pass") else {})])
        machine_id = conn.execute(select(m.c.id).where(m.c.system_id == system_id)).scalar()
        apply_inventory(conn, machine_id, found)
        record_event(conn, machine_id, "Enlisted",
                     f"Enlisted from {boot['mac']} ({found.cpu_count} CPUs, "
                     f"{found.memory} MiB, {len(found.block_devices)} disks).", None)
    return _text(system_id)

