"""The `baremetal` commands that talk to a region over its API, as `maas` does: `login`
stores a profile (URL and API key); every other command uses it. Output is a table or
JSON (`--format`); work that takes time can be waited for with progress (`--wait`); a
failure exits non-zero with the region's reason."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests

PROFILES = Path(os.environ.get("BAREMETAL_CONFIG_DIR",
                               Path.home() / ".config" / "baremetal")) / "profiles.json"
FAILED = {"Failed commissioning", "Failed testing", "Failed deployment", "Failed releasing",
          "Failed disk erasing", "Broken"}


class CommandError(RuntimeError):
    """What went wrong, for the person at the terminal."""


def oauth_header(key: str) -> str:
    """MAAS API keys are OAuth 1 PLAINTEXT: consumer:token:secret."""
    try:
        consumer, token, secret = key.split(":")
    except ValueError:
        raise CommandError("An API key looks like consumer:token:secret.") from None
    return (f'OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
            f'oauth_consumer_key="{consumer}", oauth_token="{token}", '
            f'oauth_signature="&{secret}", oauth_nonce="{time.time_ns()}", '
            f'oauth_timestamp="{int(time.time())}"')


def _profiles() -> dict[str, Any]:
    if PROFILES.exists():
        return json.loads(PROFILES.read_text())
    return {"default": None, "profiles": {}}


def _save_profiles(data: dict[str, Any]) -> None:
    PROFILES.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(PROFILES, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


class Region:
    def __init__(self, url: str, key: str) -> None:
        self.api = url.rstrip("/") + ("/" if url.rstrip("/").endswith("/api/2.0") else
                                      "/api/2.0/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = oauth_header(key)

    @classmethod
    def from_profile(cls, name: str | None) -> Region:
        data = _profiles()
        name = name or data.get("default")
        profile = data["profiles"].get(name or "")
        if profile is None:
            raise CommandError("Not logged in: run `baremetal login NAME URL KEY` first.")
        return cls(profile["url"], profile["key"])

    def call(self, method: str, path: str, op: str | None = None,
             data: dict[str, Any] | list[tuple[str, str]] | None = None) -> Any:
        params = {"op": op} if op else None
        try:
            response = self.session.request(method, self.api + path, params=params,
                                            data=data, timeout=120)
        except requests.RequestException as error:
            raise CommandError(f"The region cannot be reached: {error}") from None
        if response.status_code >= 400:
            raise CommandError(f"{response.status_code}: {response.text.strip()}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text


# Output.

MACHINE_COLUMNS = ("hostname", "system_id", "status_name", "power_state", "owner", "zone",
                   "cpu_count", "memory")


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name", value))
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    return "" if value is None else str(value)


def output(data: Any, fmt: str, columns: tuple[str, ...] | None = None) -> None:
    if fmt == "json":
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    if isinstance(data, dict) and columns is None:
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            print(f"{key.ljust(width)}  {_cell(value)}")
        return
    rows = data if isinstance(data, list) else [data]
    columns = columns or tuple(rows[0].keys()) if rows else columns or ()
    table = [[c.upper() for c in columns]] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def wait_for(region: Region, system_id: str, targets: set[str], timeout: float) -> dict:
    """Poll the machine, printing each status change; the machine when it reaches one of
    `targets`, or CommandError when it fails or time runs out."""
    started = time.monotonic()
    last = None
    while True:
        machine = region.call("GET", f"machines/{system_id}/")
        status = machine["status_name"]
        if status != last:
            message = machine.get("status_message") or ""
            print(f"[{time.monotonic() - started:6.1f}s] {machine['hostname']}: {status}"
                  f"{' - ' + message if message else ''}", file=sys.stderr, flush=True)
            last = status
        if status in targets:
            return machine
        if status in FAILED:
            raise CommandError(f"{machine['hostname']} is {status}: "
                               f"{machine.get('status_message') or 'no reason given'}")
        if time.monotonic() - started > timeout:
            raise CommandError(f"Still {status} after {timeout:.0f} s.")
        time.sleep(2)


# Commands.

def login(args: argparse.Namespace) -> int:
    key = args.key
    if key is None:
        if not (args.username and args.password):
            raise CommandError("Give an API key, or --username and --password.")
        url = args.url.rstrip("/").removesuffix("/api/2.0")
        response = requests.post(f"{url}/accounts/authenticate/", timeout=60, data={
            "username": args.username, "password": args.password, "consumer": "baremetal-cli"})
        if response.status_code != 200:
            raise CommandError(f"{response.status_code}: {response.text.strip()}")
        token = response.json()
        key = f"{token['consumer_key']}:{token['token_key']}:{token['token_secret']}"
    region = Region(args.url, key)
    user = region.call("GET", "users/", "whoami")
    data = _profiles()
    data["profiles"][args.profile_name] = {"url": args.url, "key": key}
    data["default"] = args.profile_name
    _save_profiles(data)
    print(f"Logged in to {args.url} as {user['username']} (profile {args.profile_name}).")
    return 0


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise CommandError(f"{what}: expected key=value, got '{value}'.")
        pairs.append((key, rest))
    return pairs


def run(args: argparse.Namespace) -> int:
    region = Region.from_profile(args.profile)
    fmt = args.format
    command = args.command
    if command == "machines":
        sub = args.machines_command
        if sub == "list":
            query = [(k, v) for k, values in (("status", args.status), ("zone", args.zone),
                                              ("pool", args.pool), ("tags", args.tag))
                     for v in values or []]
            found = region.session.get(region.api + "machines/", params=query, timeout=120)
            if found.status_code >= 400:
                raise CommandError(f"{found.status_code}: {found.text.strip()}")
            output(found.json(), fmt, MACHINE_COLUMNS)
        elif sub == "show":
            output(region.call("GET", f"machines/{args.system_id}/"), fmt,
                   None if fmt == "json" else None)
        elif sub == "add":
            data = [("mac_addresses", args.mac), ("architecture", args.architecture),
                    ("power_type", args.power_type)]
            data += [(f"power_parameters_{k}", v) for k, v in _pairs(args.power, "--power")]
            if args.hostname:
                data.append(("hostname", args.hostname))
            machine = region.call("POST", "machines/", data=data)
            output({k: machine[k] for k in MACHINE_COLUMNS}, fmt)
        elif sub == "delete":
            region.call("DELETE", f"machines/{args.system_id}/")
            print(f"Deleted {args.system_id}.")
        return 0
    if command in ("commission", "test", "deploy", "release"):
        data: list[tuple[str, str]] = []
        if command in ("commission", "test") and args.testing_scripts:
            data.append(("testing_scripts", args.testing_scripts))
        if command == "commission" and args.skip_bmc_config:
            data.append(("skip_bmc_config", "true"))
        if command == "deploy" and args.user_data:
            import base64

            data.append(("user_data", base64.b64encode(Path(args.user_data).read_bytes())
                         .decode()))
        if command == "release" and args.erase:
            data += [("erase", "true"), ("quick_erase", "true")]
        machine = region.call("POST", f"machines/{args.system_id}/", command, data)
        if args.wait:
            targets = {"commission": {"Ready"}, "test": {"Ready", "New"},
                       "deploy": {"Deployed"}, "release": {"Ready"}}[command]
            machine = wait_for(region, args.system_id, targets, args.timeout)
        output({k: machine.get(k) for k in MACHINE_COLUMNS}, fmt)
        return 0
    if command == "power":
        op = {"on": "power_on", "off": "power_off", "status": "query_power_state"}[args.state]
        answer = region.call("GET" if args.state == "status" else "POST",
                             f"machines/{args.system_id}/", op)
        output({"system_id": args.system_id,
                "power_state": answer["state"] if args.state == "status"
                else answer.get("power_state")}, fmt)
        return 0
    if command == "allocate":
        machine = region.call("POST", "machines/", "allocate",
                              _pairs(args.constraints, "constraint"))
        output({k: machine.get(k) for k in MACHINE_COLUMNS}, fmt)
        return 0
    if command == "results":
        return results(region, args, fmt)
    if command == "zones":
        output(region.call("GET", "zones/"), fmt, ("name", "description"))
    elif command == "tags":
        output(region.call("GET", "tags/"), fmt, ("name", "comment", "definition"))
    elif command == "events":
        query = [("limit", str(args.limit))] + ([("id", args.machine)] if args.machine else [])
        found = region.session.get(region.api + "events/", timeout=120,
                                   params=[("op", "query"), *query])
        if found.status_code >= 400:
            raise CommandError(f"{found.status_code}: {found.text.strip()}")
        output(found.json()["events"], fmt, ("created", "hostname", "level", "type",
                                             "description"))
    elif command == "racks":
        output(region.call("GET", "rackcontrollers/"), fmt,
               ("name", "system_id", "status", "last_heartbeat", "version"))
    return 0


def results(region: Region, args: argparse.Namespace, fmt: str) -> int:
    """Commissioning and test results: per machine and per run, which scripts passed, when,
    and (with --output) what they printed."""
    import base64

    system_ids = args.system_ids or [m["system_id"] for m in region.call("GET", "machines/")]
    rows = []
    for system_id in system_ids:
        runs = region.session.get(region.api + f"nodes/{system_id}/results/", timeout=120,
                                  params={"include_output": "1" if args.output else "0",
                                          **({"type": args.type} if args.type else {})})
        if runs.status_code >= 400:
            raise CommandError(f"{runs.status_code}: {runs.text.strip()}")
        for run in runs.json()[:None if args.all_runs else 1]:
            for result in run["results"]:
                row = {"system_id": system_id, "run": run["id"], "type": run["result_type"],
                       "script": result["name"], "status": result["status"],
                       "exit_status": result["exit_status"], "runtime": result["runtime"],
                       "ended": result["ended"]}
                if args.output:
                    row["output"] = base64.b64decode(result.get("output", "")).decode(
                        "utf-8", "replace")
                rows.append(row)
    if fmt == "table" and args.output:
        for row in rows:
            print(f"== {row['system_id']} run {row['run']} {row['script']}: {row['status']}")
            print(row["output"].rstrip())
        return 0
    output(rows, fmt, ("system_id", "run", "type", "script", "status", "exit_status",
                       "runtime", "ended"))
    return 0


def add_parsers(commands) -> None:  # type: ignore[no-untyped-def]
    def common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--profile", default=None, help="(default: the last login)")
        parser.add_argument("--format", choices=("table", "json"), default="table")
        return parser

    login = commands.add_parser("login", help="store a profile: the region's URL and a key")
    login.add_argument("profile_name")
    login.add_argument("url", help="e.g. http://10.0.0.10:5240/MAAS/")
    login.add_argument("key", nargs="?", help="an API key (consumer:token:secret)")
    login.add_argument("--username")
    login.add_argument("--password")
    machines = commands.add_parser("machines", help="list, show, add, delete machines")
    sub = machines.add_subparsers(dest="machines_command", required=True)
    listing = common(sub.add_parser("list"))
    for flag in ("status", "zone", "pool", "tag"):
        listing.add_argument(f"--{flag}", action="append")
    common(sub.add_parser("show")).add_argument("system_id")
    add = common(sub.add_parser("add"))
    add.add_argument("--mac", required=True)
    add.add_argument("--hostname")
    add.add_argument("--architecture", default="amd64/generic")
    add.add_argument("--power-type", default="manual")
    add.add_argument("--power", action="append", default=[], metavar="KEY=VALUE",
                     help="a power parameter, e.g. power_address=10.0.0.5 (repeatable)")
    common(sub.add_parser("delete")).add_argument("system_id")
    for name, text in (("commission", "commission a machine"), ("test", "test a machine"),
                       ("deploy", "deploy a machine (allocating it if Ready)"),
                       ("release", "release a machine")):
        parser = common(commands.add_parser(name, help=text))
        parser.add_argument("system_id")
        parser.add_argument("--wait", action="store_true", help="wait, showing progress")
        parser.add_argument("--timeout", type=float, default=1800)
        if name in ("commission", "test"):
            parser.add_argument("--testing-scripts", default="")
        if name == "commission":
            parser.add_argument("--skip-bmc-config", action="store_true")
        if name == "deploy":
            parser.add_argument("--user-data", help="a file")
        if name == "release":
            parser.add_argument("--erase", action="store_true", help="quick-erase the disks")
    power = common(commands.add_parser("power", help="power on, off, or ask the BMC"))
    power.add_argument("state", choices=("on", "off", "status"))
    power.add_argument("system_id")
    allocate = common(commands.add_parser("allocate", help="allocate a machine by MAAS "
                                                           "constraints (key=value ...)"))
    allocate.add_argument("constraints", nargs="*", metavar="KEY=VALUE")
    common(commands.add_parser("zones", help="list zones"))
    common(commands.add_parser("tags", help="list tags"))
    events = common(commands.add_parser("events", help="the latest events"))
    events.add_argument("--machine", help="a system id")
    events.add_argument("--limit", type=int, default=20)
    common(commands.add_parser("racks", help="rack controllers and their health"))
    found = common(commands.add_parser("results", help="commissioning and test results, "
                                                       "per machine and per run"))
    found.add_argument("system_ids", nargs="*", help="(default: every machine you can see)")
    found.add_argument("--type", choices=("commissioning", "testing"))
    found.add_argument("--all-runs", action="store_true", help="not only the latest run")
    found.add_argument("--output", action="store_true", help="include what scripts printed")
    return common


CLIENT_COMMANDS = {"login", "machines", "commission", "test", "deploy", "release", "power",
                   "allocate", "zones", "tags", "events", "racks", "results"}


def main(args: argparse.Namespace) -> int:
    try:
        return login(args) if args.command == "login" else run(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
