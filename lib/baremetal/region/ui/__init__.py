"""The web UI at /MAAS/: server-rendered (jinja2), a little JavaScript of our own. Same
users, same visibility rules and the same operations as the API. Sessions are signed
cookies (HttpOnly, SameSite=Lax); every form carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

import contextlib
import math
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy import select
from wtforms import ValidationError

from baremetal.models import NodeStatus, PowerState
from baremetal.power import DRIVERS
from baremetal.power.base import describe_fields
from baremetal.store import Store, utcnow
from baremetal.store import dashboard as board
from baremetal.store import schema as t
from baremetal.store.accounts import (
    authenticate,
    create_token,
    delete_token,
    get_user_by_id,
    list_tokens,
    list_users,
)
from baremetal.store.boot import enlistment_token, rotate_enlistment_token
from baremetal.store.catalog import list_pools, list_tags, list_zones
from baremetal.store.images import image_states, list_activity
from baremetal.store.listing import SORTABLE, MachineFilter, machine_page
from baremetal.store.machines import load_machines
from baremetal.store.racks import get_or_create_setting, list_racks
from baremetal.store.references import network_index
from baremetal.store.scripts import list_script_sets

from . import bulk

ui = Blueprint("ui", __name__, url_prefix="/MAAS", template_folder="templates",
               static_folder="static", static_url_path="/ui-static")
PAGE_SIZES = (25, 50, 100, 200)


def _store() -> Store:
    return current_app.extensions["baremetal.store"]


def configure(app) -> None:  # type: ignore[no-untyped-def]
    """Session signing key shared by every region process (kept in the database)."""
    import secrets

    with app.extensions["baremetal.store"].write() as conn:
        app.secret_key = get_or_create_setting(conn, "ui_session_key",
                                               lambda: secrets.token_hex(32))
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="baremetal_session", WTF_CSRF_TIME_LIMIT=None)
    app.jinja_env.filters["replace_param"] = _replace_param
    app.jinja_env.filters["status_label"] = lambda value: NodeStatus(value).label
    app.register_blueprint(ui)


def _replace_param(query: str, key: str, value: object) -> str:
    """The query string with `key` set to `value` (paging and sorting links)."""
    from urllib.parse import parse_qsl, urlencode

    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != key]
    return urlencode([*pairs, (key, str(value))])


@ui.before_request
def _load_user() -> Response | None:
    g.ui_user = None
    user_id = session.get("user_id")
    if user_id is not None and request.endpoint != "ui.static":
        with _store().read() as conn:
            g.ui_user = get_user_by_id(conn, user_id)
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            return Response("The form's CSRF token is missing or wrong: reload the page and "
                            "try again.\n", 400, mimetype="text/plain")
    return None


@ui.app_context_processor
def _globals() -> dict[str, Any]:
    return {"csrf_token": generate_csrf, "user": getattr(g, "ui_user", None)}


def login_required(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
        if g.ui_user is None:
            return redirect(url_for("ui.login", next=request.full_path))
        return view(*args, **kwargs)
    return wrapped


def admin_required(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not g.ui_user.is_superuser:
            abort(403)
        return view(*args, **kwargs)
    return wrapped


@ui.get("/accounts/login")
def login() -> str:
    return render_template("login.html", error=None, next=request.args.get("next", ""))


@ui.post("/accounts/login")
def login_post() -> Any:
    with _store().read() as conn:
        user = authenticate(conn, request.form.get("username", ""),
                            request.form.get("password", ""))
    if user is None:
        return render_template("login.html", error="Wrong username or password.",
                               next=request.form.get("next", "")), 401
    session.clear()
    session["user_id"] = user.id
    target = request.form.get("next") or ""
    return redirect(target if target.startswith("/MAAS/") else url_for("ui.dashboard"))


@ui.post("/accounts/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("ui.login"))


# Dashboard.

def _dashboard_data() -> dict[str, Any]:
    user = g.ui_user
    now = utcnow()
    with _store().read() as conn:
        racks = list_racks(conn) if user.is_superuser else []
        return {"counts": board.counts(conn, user), "failures": board.power_failures(conn, user),
                "progress": board.in_progress(conn, user, now),
                "events": board.latest_events(conn, user),
                "racks": [(r, r.is_up(now)) for r in racks], "now": now}


@ui.get("/")
@login_required
def dashboard() -> str:
    return render_template("dashboard.html", **_dashboard_data())


@ui.get("/dashboard/live")
@login_required
def dashboard_live() -> str:
    """The dashboard's body alone: the page swaps it in every few seconds."""
    return render_template("dashboard_live.html", **_dashboard_data())


# Machines.

def _filter_from(args) -> MachineFilter:  # type: ignore[no-untyped-def]
    statuses = []
    for label in args.getlist("status"):
        with contextlib.suppress(ValueError):
            statuses.append(NodeStatus.from_label(label))
    return MachineFilter(
        statuses=tuple(statuses), zones=tuple(v for v in args.getlist("zone") if v),
        pools=tuple(v for v in args.getlist("pool") if v),
        tags=tuple(v for v in args.getlist("tag") if v),
        owners=tuple(v for v in args.getlist("owner") if v),
        power_states=tuple(v for v in args.getlist("power") if v),
        architectures=tuple(v for v in args.getlist("arch") if v),
        text=(args.get("q") or "").strip()[:100])


_FILTER_KEYS = ("q", "status", "zone", "pool", "tag", "owner", "power", "arch")


@ui.get("/machines")
@login_required
def machines() -> str:
    args = request.args
    where = _filter_from(args)
    sort = args.get("sort", "hostname")
    sort = sort if sort in SORTABLE else "hostname"
    descending = args.get("dir") == "desc"
    per_page = args.get("per_page", type=int) or 50
    per_page = per_page if per_page in PAGE_SIZES else 50
    page = max(args.get("page", type=int) or 1, 1)
    with _store().read() as conn:
        rows, total = machine_page(conn, g.ui_user, where, sort=sort, descending=descending,
                                   offset=(page - 1) * per_page, limit=per_page)
        choices = {"zone": [z.name for z in list_zones(conn)],
                   "pool": [p.name for p in list_pools(conn)],
                   "tag": [tag.name for tag in list_tags(conn)]}
    filters = {key: args.getlist(key) for key in _FILTER_KEYS}
    return render_template(
        "machines.html", rows=rows, total=total, page=page, per_page=per_page,
        pages=max(math.ceil(total / per_page), 1), sort=sort, descending=descending,
        filters=filters, choices=choices, statuses=[s.label for s in NodeStatus],
        power_states=[p.value for p in PowerState], actions=bulk.ACTIONS,
        query_string=request.query_string.decode(), outcomes=None)


@ui.post("/machines/action")
@login_required
def machines_action() -> Any:
    form = request.form
    action = form.get("action", "")
    matching = _filter_from(form) if form.get("select_all") == "matching" else None
    system_ids = bulk.selected_ids(_store(), g.ui_user, form.getlist("system_id"), matching)
    if not system_ids:
        return Response("Select at least one machine.\n", 400, mimetype="text/plain")
    options = {key: form.get(key, "") for key in ("tag", "zone", "pool", "comment",
                                                  "testing_scripts") if form.get(key)}
    outcomes = bulk.run(_store(), g.ui_user, action, system_ids, options, request.host_url)
    return render_template("bulk_result.html", outcomes=outcomes,
                           label=bulk.ACTIONS.get(action, (action,))[0],
                           back=form.get("back", ""))


@ui.get("/machines/<system_id>")
@login_required
def machine(system_id: str) -> str:
    from baremetal.store.listing import machine_ids
    from baremetal.store.machines import list_events

    with _store().read() as conn:
        found = load_machines(conn, machine_ids(g.ui_user, MachineFilter(
            system_ids=(system_id,))))
        if not found:
            abort(404)
        runs = list_script_sets(conn, [found[0].id])
        events = list(reversed(list_events(conn, system_id)))[:50]
        vlans, subnets = network_index(conn)
    return render_template("machine.html", m=found[0], runs=runs, events=events,
                           actions=bulk.ACTIONS, subnets=sorted(subnets.values(),
                                                                key=lambda s: s.cidr),
                           vlans=sorted(vlans.values(), key=lambda v: (v.fabric, v.vid)))


@ui.post("/machines/<system_id>/action")
@login_required
def machine_action(system_id: str) -> Any:
    action = request.form.get("action", "")
    if action == "query_power":
        from baremetal.store.power import enqueue_power_job

        with _store().write() as conn:
            row = conn.execute(select(t.machines.c.id).where(
                t.machines.c.system_id == system_id)).first()
            if row is None:
                abort(404)
            enqueue_power_job(conn, row.id, "query", g.ui_user.username)
        outcomes = [bulk.Outcome(system_id, system_id, True, "Power query queued")]
    else:
        options = {k: v for k, v in request.form.items() if k not in ("action", "csrf_token")}
        outcomes = bulk.run(_store(), g.ui_user, action, [system_id], options,
                            request.host_url)
    return render_template("bulk_result.html", outcomes=outcomes,
                           label=bulk.ACTIONS.get(action, (action,))[0],
                           back=url_for("ui.machine", system_id=system_id))


# Shaping a machine's interfaces: the API's own interface actions (the same checks, state
# rule and messages), called with the form's fields.

INTERFACE_ACTIONS = {"create_bond", "create_vlan", "create_bridge", "link_subnet",
                     "unlink_subnet", "delete"}


@ui.post("/machines/<system_id>/interfaces")
@login_required
def machine_interfaces(system_id: str) -> Any:
    from baremetal.region.app import Call
    from baremetal.region.errors import ApiError
    from baremetal.region.handlers import interfaces as api
    from baremetal.region.params import Params

    action = request.form.get("action", "")
    if action not in INTERFACE_ACTIONS:
        abort(400)
    fields = [(k, v) for k, values in request.form.lists() for v in values
              if k not in ("action", "csrf_token", "interface") and v != ""]
    call = Call(_store(), g.ui_user, Params(fields), request.host_url)
    interface = request.form.get("interface", "")
    try:
        if action.startswith("create_"):
            getattr(api, f"{action}_action")(call, system_id)
        elif action == "delete":
            api.delete_interface_action(call, system_id, interface)
        else:
            getattr(api, f"{action}_action")(call, system_id, interface)
        outcome = bulk.Outcome(system_id, system_id, True, f"{action.replace('_', ' ')}: done")
    except ApiError as error:
        outcome = bulk.Outcome(system_id, system_id, False, error.message)
    return render_template("bulk_result.html", outcomes=[outcome],
                           label=action.replace("_", " "),
                           back=url_for("ui.machine", system_id=system_id))


# Adding a machine: the form comes from the power drivers' settings schemas.

@ui.get("/machines/add")
@admin_required
def add_machine() -> str:
    return _add_machine_form(None, {})


def _add_machine_form(error: str | None, form) -> str:  # type: ignore[no-untyped-def]
    """The form, with one fieldset per power driver from its settings schema."""
    with _store().read() as conn:
        zones = [z.name for z in list_zones(conn)]
        pools = [p.name for p in list_pools(conn)]
    drivers = {name: describe_fields(cls.settings) for name, cls in DRIVERS.items()}
    return render_template("add_machine.html", drivers=drivers, zones=zones, pools=pools,
                           error=error, form=form)


@ui.post("/machines/add")
@admin_required
def add_machine_post() -> Any:
    from pydantic import ValidationError as SettingsError
    from sqlalchemy.exc import IntegrityError

    from baremetal.power.registry import parse_settings, validation_messages
    from baremetal.store.machines import NewInterface, NewMachine, create_machines

    form = request.form
    power_type = form.get("power_type", "")
    parameters = {key.removeprefix(f"{power_type}__"): value for key, value in form.items()
                  if key.startswith(f"{power_type}__") and value != ""}
    error = None
    if power_type not in DRIVERS:
        error = "Choose a power type."
    else:
        try:
            parse_settings(power_type, parameters)
        except SettingsError as invalid:
            error = validation_messages(invalid, prefix="")
    mac = form.get("mac_address", "").strip().lower()
    if error is None and not mac:
        error = "mac_address: the machine's PXE MAC address is required."
    if error is None:
        try:
            with _store().write() as conn:
                [system_id] = create_machines(conn, [NewMachine(
                    hostname=form.get("hostname") or None, zone=form.get("zone") or "default",
                    pool=form.get("pool") or "default", power_type=power_type,
                    power_parameters=parameters,
                    interfaces=[NewInterface(name="eth0", mac_address=mac)])],
                    username=g.ui_user.username)
            return redirect(url_for("ui.machine", system_id=system_id))
        except (IntegrityError, LookupError, ValueError) as failed:
            error = f"The machine was not added: {str(failed).splitlines()[0]}"
    return _add_machine_form(error, form), 400


# Settings: API keys (yours), users, the enlistment token, racks and images (admins).

@ui.get("/settings")
@login_required
def settings() -> str:
    user = g.ui_user
    now = utcnow()
    with _store().read() as conn:
        tokens = list_tokens(conn, user.id)
        users = list_users(conn) if user.is_superuser else []
        token = enlistment_token(conn, create=False) if user.is_superuser else None
        racks = [(r, r.is_up(now)) for r in list_racks(conn)] if user.is_superuser else []
        work = list_activity(conn)
        images = image_states(conn)
    return render_template("settings.html", tokens=tokens, users=users, token=token,
                           racks=racks, images=images, image_work=work,
                           new_key=session.pop("new_key", None),
                           error=session.pop("settings_error", None))


@ui.post("/settings/keys")
@login_required
def settings_keys() -> Any:
    with _store().write() as conn:
        if request.form.get("delete"):
            delete_token(conn, g.ui_user.id, request.form["delete"])
        else:
            session["new_key"] = create_token(conn, g.ui_user.id,
                                              request.form.get("name") or "web UI").api_key
    return redirect(url_for("ui.settings"))


@ui.post("/settings/users")
@admin_required
def settings_users() -> Any:
    from sqlalchemy.exc import IntegrityError

    from baremetal.store.references import create_user

    form = request.form
    username, password = form.get("username", "").strip(), form.get("password", "")
    if not username or len(password) < 8:
        session["settings_error"] = "A user needs a name and a password of 8 characters or more."
        return redirect(url_for("ui.settings"))
    try:
        with _store().write() as conn:
            create_user(conn, username, password, form.get("email", ""),
                        is_superuser=form.get("is_admin") == "on")
    except IntegrityError:
        session["settings_error"] = f"A user named '{username}' already exists."
    return redirect(url_for("ui.settings"))


@ui.post("/settings/enlistment-token")
@admin_required
def settings_rotate() -> Any:
    with _store().write() as conn:
        rotate_enlistment_token(conn)
    return redirect(url_for("ui.settings"))


@ui.app_errorhandler(403)
def _forbidden(_: Exception) -> tuple[str, int]:
    return render_template("error.html", message="This page is for administrators."), 403
