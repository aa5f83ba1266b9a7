"""The rack <-> region protocol: HTTP+JSON under /MAAS/rack/v1/, authenticated by the
shared secret (`Authorization: Bearer <secret>`); anything else is 401."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Literal

from flask import Blueprint, Response, current_app, jsonify, request, send_file
from pydantic import BaseModel, Field

from baremetal import __version__
from baremetal.boot.decisions import (
    BUSYBOX,
    BootImage,
    BootTarget,
    boots_real_os,
    decide,
    preseed_nonce,
)
from baremetal.boot.render import RENDERERS
from baremetal.images.files import ImageFiles
from baremetal.models import PowerState
from baremetal.power import DRIVERS
from baremetal.store import power as power_jobs
from baremetal.store.boot import boot_target, dhcp_for_rack, enlistment_token
from baremetal.store.config import get_config, series_image_name
from baremetal.store.images import boot_files, get_file, serving_files
from baremetal.store.racks import HEARTBEAT_INTERVAL, heartbeat, register_rack, secret_matches

from .errors import NotFound, Unauthorized

rack_api = Blueprint("rack_api", __name__, url_prefix="/MAAS/rack/v1")


class RackInterface(BaseModel):
    name: str = Field(max_length=64)
    mac_address: str | None = Field(default=None, max_length=17)
    addresses: list[str] = Field(default_factory=list, max_length=64)


class Registration(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    hostname: str = Field(min_length=1, max_length=255)
    version: str = Field(default="", max_length=64)
    interfaces: list[RackInterface] = Field(default_factory=list, max_length=256)
    subnets: list[str] = Field(default_factory=list, max_length=1024)


class Heartbeat(BaseModel):
    system_id: str = Field(min_length=1, max_length=41)


def _store():  # type: ignore[no-untyped-def]
    return current_app.extensions["baremetal.store"]


@rack_api.before_request
def _authenticate() -> None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not presented:
        raise Unauthorized("Racks authenticate with the shared secret (Bearer).")
    with _store().read() as conn:
        if not secret_matches(conn, presented.strip()):
            raise Unauthorized("Wrong rack secret.")


def _body(model):  # type: ignore[no-untyped-def]
    return model.model_validate(request.get_json(force=True, silent=False) or {})


@rack_api.post("/register")
def register() -> Response:
    registration = _body(Registration)
    with _store().write() as conn:
        system_id = register_rack(
            conn, name=registration.name, hostname=registration.hostname,
            version=registration.version,
            interfaces=[i.model_dump() for i in registration.interfaces],
            subnets=registration.subnets)
    return jsonify({"system_id": system_id, "region_version": __version__,
                    "heartbeat_interval": HEARTBEAT_INTERVAL.total_seconds()})


@rack_api.post("/heartbeat")
def beat() -> Response:
    body = _body(Heartbeat)
    with _store().write() as conn:
        if not heartbeat(conn, body.system_id):
            raise NotFound("Unknown rack: register first.")
    return jsonify({"ok": True})


# Power jobs, for the power worker a rack runs (the same JobSource the in-process one uses).

class Claim(BaseModel):
    rack: str = Field(min_length=1, max_length=41)
    limit: int = Field(ge=1, le=256)


class Renewal(BaseModel):
    rack: str = Field(min_length=1, max_length=41)
    job_ids: list[int] = Field(max_length=1024)


class Finish(BaseModel):
    rack: str = Field(min_length=1, max_length=41)
    job_id: int
    state: PowerState | None = None
    error: str | None = Field(default=None, max_length=4000)


class PollRequest(BaseModel):
    limit: int = Field(ge=1, le=10_000)
    rack: str | None = Field(default=None, max_length=41)


class States(BaseModel):
    results: list[tuple[int, PowerState, str | None]] = Field(max_length=10_000)


def _lease() -> timedelta:
    return timedelta(seconds=current_app.config.get("RACK_JOB_LEASE", 30.0))


@rack_api.post("/power/claim")
def claim() -> Response:
    body = _body(Claim)
    jobs = power_jobs.claim_power_jobs(_store(), body.rack, body.limit, _lease(),
                                       rack=body.rack)
    return jsonify([asdict(job) for job in jobs])


@rack_api.post("/power/renew")
def renew() -> Response:
    body = _body(Renewal)
    power_jobs.renew_leases(_store(), body.rack, body.job_ids, _lease())
    return jsonify({"ok": True})


@rack_api.post("/power/finish")
def finish() -> Response:
    body = _body(Finish)
    accepted = power_jobs.finish_power_job(_store(), body.job_id, body.rack, state=body.state,
                                           error=body.error)
    return jsonify({"accepted": accepted})


@rack_api.post("/power/poll-targets")
def poll_targets() -> Response:
    body = _body(PollRequest)
    queryable = tuple(name for name, cls in DRIVERS.items() if cls.queryable)
    targets = power_jobs.machines_to_poll(_store(), queryable, body.limit, rack=body.rack)
    return jsonify([asdict(target) for target in targets])


@rack_api.post("/power/states")
def states() -> Response:
    power_jobs.record_power_states(_store(), list(_body(States).results))
    return jsonify({"ok": True})


# Boot: what the rack serves (its DHCP subnets, the images), and per-machine configs.

class ConfigRequest(BaseModel):
    system_id: str = Field(min_length=1, max_length=41)


class BootConfigRequest(BaseModel):
    mac: str | None = Field(default=None, pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
    loader: Literal["ipxe", "pxelinux", "grub"]
    http_base: str = Field(pattern=r"^https?://[^/\s]+/?$", max_length=255)


@rack_api.post("/config")
def config() -> Response:
    """The rack's configuration: the DHCP it serves (subnets of the VLANs it is the serving
    rack for, with ranges and reservations) and the boot images it should hold."""
    rack = _body(ConfigRequest).system_id
    with _store().read() as conn:
        dhcp = dhcp_for_rack(conn, rack)
        images = serving_files(conn)
    return jsonify({"dhcp": dhcp, "images": images})


def commissioning_image(conn, target: BootTarget) -> BootImage:  # type: ignore[no-untyped-def]
    """The real OS environment (commissioning_distro_series) when this boot may use it and
    its image is complete for the machine's architecture; else the busybox one (with no
    query: most boots are enlistment or power-off)."""
    if target.token is None or not boots_real_os(target):
        return BUSYBOX
    name = series_image_name(get_config(conn, "commissioning_osystem"),
                             get_config(conn, "commissioning_distro_series"))
    files = boot_files(conn, name, target.architecture.split("/", 1)[0] or "amd64")
    if files is None or "squashfs" not in files:
        return BUSYBOX
    return BootImage(name, files["boot-kernel"], files["boot-initrd"], files["squashfs"],
                     preseed_nonce(target.token, target.system_id, int(target.status or 0)))


@rack_api.post("/boot-config")
def boot_config() -> Response:
    """The bootloader config for a MAC (or for an unknown machine: enlistment), from the
    region's boot decision. The kernel command line points the machine at the rack's
    HTTP server, which forwards the metadata API to the region."""
    body = _body(BootConfigRequest)
    base = body.http_base.rstrip("/")
    # A read answers every boot but a machine's first (which makes its token): TFTP asks
    # this for each booting machine, and SQLite has one writer.
    with _store().read() as conn:
        target = boot_target(conn, body.mac, create_token=False)
        token = enlistment_token(conn, create=False) if target.status is None else None
    if (token if target.status is None else target.token) is None:  # first boot: make it
        with _store().write() as conn:
            target = boot_target(conn, body.mac)
            token = enlistment_token(conn) if target.status is None else None
    with _store().read() as conn:
        image = commissioning_image(conn, target)
    decision = decide(target, http_base=base, metadata_url=f"{base}/MAAS/metadata/",
                      enlistment_token=token, image=image)
    return jsonify({"purpose": decision.purpose.value,
                    "config": RENDERERS[body.loader](decision)})


@rack_api.get("/images/<int:file_id>")
def image(file_id: int) -> Response:
    """An image file, streamed from the region's disk (Range requests resume)."""
    with _store().read() as conn:
        found = get_file(conn, file_id)
    if found is None or not found.complete:
        raise NotFound("No such boot resource file (or it is not complete).")
    path = ImageFiles(_store().images_dir).path(found.sha256)
    if not path.is_file():
        raise NotFound(f"{found.filename}: the file is missing from the region's disk.")
    response = send_file(path, mimetype="application/octet-stream", conditional=True,
                         etag=found.sha256)
    response.headers["X-Checksum-Sha256"] = found.sha256
    return response
