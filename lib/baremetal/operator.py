"""What an operator (the Juju charms, or a person with systemd) needs to run baremetal as
services: the region's and the rack's command lines, environments and systemd units, the
database URL built from what a PostgreSQL provider publishes, and the day-2 tasks the
charm actions expose. Nothing here knows about Juju."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

REGION_UNIT = "baremetal-region.service"
RACK_UNIT = "baremetal-rack.service"


def postgresql_url(endpoints: str, username: str, password: str, database: str) -> str:
    """`endpoints` is "host:port[,host:port...]" as the postgresql charm publishes it; the
    first is the primary."""
    first = endpoints.split(",")[0].strip()
    if not first:
        raise ValueError("the database relation published no endpoints")
    host, _, port = first.rpartition(":") if ":" in first else (first, "", "5432")
    return (f"postgresql+psycopg://{quote(username, safe='')}:{quote(password, safe='')}"
            f"@{host}:{port or 5432}/{quote(database, safe='')}")


def _unit(description: str, exec_start: list[str], environment_file: Path) -> str:
    return "\n".join([
        "[Unit]", f"Description={description}", "After=network-online.target",
        "Wants=network-online.target", "", "[Service]", "Type=simple",
        f"EnvironmentFile={environment_file}", f"ExecStart={' '.join(exec_start)}",
        "Restart=on-failure", "RestartSec=5", "", "[Install]", "WantedBy=multi-user.target",
        ""])


@dataclass(frozen=True)
class RegionService:
    """`baremetal region` under gunicorn; SQLite in data_dir unless database_url is set."""

    data_dir: Path = Path("/var/lib/baremetal")
    database_url: str | None = None
    port: int = 5240
    workers: int = 2
    python: str = sys.executable
    pythonpath: str = ""  # where the package is, when not installed (a charm's venv/lib)
    environment_file: Path = Path("/etc/baremetal/region.env")

    def command(self) -> list[str]:
        return [self.python, "-m", "baremetal.cli", "region", "--host", "0.0.0.0",
                "--port", str(self.port), "--workers", str(self.workers),
                "--data-dir", str(self.data_dir)]

    def environment(self) -> dict[str, str]:
        """Secrets (the database password) travel in the environment file (mode 0600),
        never on the command line."""
        env = {"BAREMETAL_DATA_DIR": str(self.data_dir)}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        if self.database_url:
            env["BAREMETAL_DATABASE_URL"] = self.database_url
        return env

    def unit(self) -> str:
        return _unit("baremetal region controller (MAAS API 2.0)", self.command(),
                     self.environment_file)


@dataclass(frozen=True)
class RackService:
    region_url: str
    secret: str
    name: str
    data_dir: Path = Path("/var/lib/baremetal-rack")
    tftp_port: int = 69
    http_port: int = 5248
    dhcp: bool = True
    listen: str = "0.0.0.0"
    python: str = sys.executable
    pythonpath: str = ""
    advertise: str | None = None
    environment_file: Path = Path("/etc/baremetal/rack.env")

    def command(self) -> list[str]:
        command = [self.python, "-m", "baremetal.cli", "rack", "--region-url",
                   self.region_url, "--name", self.name, "--boot-dir", str(self.data_dir),
                   "--listen", self.listen, "--tftp-port", str(self.tftp_port),
                   "--http-port", str(self.http_port)]
        if self.advertise:
            command += ["--advertise", self.advertise]
        return command if self.dhcp else [*command, "--no-dhcp"]

    def environment(self) -> dict[str, str]:
        env = {"BAREMETAL_RACK_SECRET": self.secret}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return env

    def unit(self) -> str:
        return _unit("baremetal rack controller", self.command(), self.environment_file)


def environment_file(env: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in sorted(env.items()))


def write_unit_files(unit_path: Path, env_path: Path, unit: str,
                     environment: dict[str, str]) -> bool:
    """Write a systemd unit and its environment file (0600: it holds secrets); whether
    anything changed (the service then needs a restart)."""
    import os

    changed = False
    for path, text, mode in ((env_path, environment_file(environment), 0o600),
                             (unit_path, unit, 0o644)):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.chmod(path, mode)
            changed = True
    return changed


class ServiceWorkload:
    """A baremetal service on a machine (for a charm): its unit and environment files under
    `root`, and systemctl. Subclasses name the unit and render the service."""

    unit_name = ""
    env_name = ""
    data_name = ""

    def __init__(self, charm_dir: Path, root: Path = Path("/")) -> None:
        self.charm_dir = charm_dir
        self.unit_path = root / "etc/systemd/system" / self.unit_name
        self.env_path = root / "etc/baremetal" / self.env_name
        self.data_dir = root / "var/lib" / self.data_name

    @property
    def pythonpath(self) -> str:
        """Where a packed charm keeps the package and its dependencies."""
        return ":".join(str(self.charm_dir / d) for d in ("venv", "lib")
                        if (self.charm_dir / d).is_dir())

    def write(self, service: RegionService | RackService) -> bool:
        """Write the unit and its environment; whether anything changed."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return write_unit_files(self.unit_path, self.env_path, service.unit(),
                                service.environment())

    def restart(self) -> None:
        self.systemctl("daemon-reload")
        self.systemctl("enable", self.unit_name)
        self.systemctl("restart", self.unit_name)

    def stop(self) -> None:
        self.systemctl("stop", self.unit_name)

    def systemctl(self, *args: str) -> None:
        import subprocess

        subprocess.run(["systemctl", *args], check=True, capture_output=True, timeout=120)


def parse_environment_file(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# Day-2 tasks (the charm actions), on a store.

@dataclass
class TaskError(Exception):
    """A task that cannot be done; the message is for the operator."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class Tasks:
    database_url: str
    _store: Any = field(default=None, init=False)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        if self._store is None:
            from baremetal.store import Store
            from baremetal.store.references import ensure_defaults

            self._store = Store(self.database_url)
            self._store.migrate()
            with self._store.write() as conn:
                ensure_defaults(conn)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()

    def migrate(self) -> None:
        self.store  # noqa: B018  (migrates on first use)

    def rack_secret(self) -> str:
        from baremetal.store.racks import rack_secret

        with self.store.write() as conn:
            return rack_secret(conn)

    def create_admin(self, username: str, password: str, email: str = "") -> None:
        from baremetal.store.references import create_user, get_user

        if len(password) < 8:
            raise TaskError("password: use at least 8 characters.")
        with self.store.write() as conn:
            if get_user(conn, username) is not None:
                raise TaskError(f"A user named '{username}' already exists.")
            create_user(conn, username, password, email, is_superuser=True)

    def api_key(self, username: str, create_user: bool = False,
                key_name: str = "charm") -> str:
        """A new API key for `username` (made, as a non-admin, if asked and missing)."""
        from baremetal.store.accounts import create_token
        from baremetal.store.references import create_user as make_user
        from baremetal.store.references import get_user

        with self.store.write() as conn:
            user = get_user(conn, username)
            if user is None:
                if not create_user:
                    raise TaskError(f"No user named '{username}'.")
                user = make_user(conn, username, "", "")
            return create_token(conn, user.id, key_name).api_key

    def remove_user(self, username: str) -> bool:
        from sqlalchemy import delete

        from baremetal.store import schema as t

        with self.store.write() as conn:
            return conn.execute(delete(t.users).where(t.users.c.username == username)
                                ).rowcount == 1

    def add_machine(self, hostname: str, mac: str, power_type: str,
                    power_parameters: dict[str, Any]) -> str:
        from baremetal.power.registry import parse_settings
        from baremetal.store.machines import NewInterface, NewMachine, create_machines

        try:
            parse_settings(power_type, power_parameters)
        except Exception as error:  # a driver's validation message, for the operator
            raise TaskError(f"power-parameters: {error}") from None
        try:
            with self.store.write() as conn:
                [system_id] = create_machines(conn, [NewMachine(
                    hostname=hostname, power_type=power_type,
                    power_parameters=power_parameters,
                    interfaces=[NewInterface(name="eth0", mac_address=mac.lower())])])
        except Exception as error:
            raise TaskError(f"The machine could not be added: {error}") from None
        return system_id

    def list_machines(self, status: str | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from baremetal.models import NodeStatus
        from baremetal.store import schema as t

        m = t.machines
        query = select(m.c.system_id, m.c.hostname, m.c.status, m.c.power_state).where(
            m.c.node_type == 0).order_by(m.c.hostname)
        if status:
            wanted = [s for s in NodeStatus if s.label.lower() == status.lower()
                      or s.name.lower() == status.lower()]
            if not wanted:
                raise TaskError(f"status: '{status}' is not a machine status.")
            query = query.where(m.c.status == int(wanted[0]))
        with self.store.read() as conn:
            return [{"system_id": r.system_id, "hostname": r.hostname,
                     "status": NodeStatus(r.status).label, "power_state": r.power_state}
                    for r in conn.execute(query)]

    def commission(self, system_id: str, testing_scripts: str = "",
                   skip_bmc_config: bool = False) -> str:
        """Start commissioning, as `op=commission` does; the machine's new status."""
        from baremetal.region.errors import ApiError
        from baremetal.region.handlers.lifecycle_ops import (
            start_commissioning,
        )
        from baremetal.region.handlers.lifecycle_ops import (
            testing_scripts as parse_tests,
        )
        from baremetal.store.machines import MachineNotFound, get_machine

        try:
            tests = parse_tests(testing_scripts)
            with self.store.write() as conn:
                machine = get_machine(conn, system_id)
                start_commissioning(conn, machine, tests=tests,
                                    configure_bmc=not skip_bmc_config, username="juju")
                return get_machine(conn, system_id).status.label
        except MachineNotFound:
            raise TaskError(f"No machine with system id '{system_id}'.") from None
        except ApiError as error:
            raise TaskError(str(error)) from None

    def build_os_image(self, os_name: str) -> dict[str, Any]:
        """Build a deployable OS image (debootstrap; cached by its inputs) and store it."""
        from baremetal.images.builds import BuildFailed, build_and_store

        try:
            image = build_and_store(self.store, os_name)
        except BuildFailed as error:
            raise TaskError(str(error)) from None
        return {"name": image.name, "architecture": image.architecture,
                "version": image.version, "cached": image.cached,
                "files": {f.filetype: {"size": f.size, "sha256": f.sha256}
                          for f in image.files}}

    def build_images(self, cache: Path) -> list[dict[str, Any]]:
        """Build the busybox environment and store it; what was stored."""
        from baremetal.images.build import ImageBuildError, build_image
        from baremetal.images.library import store_busybox
        from baremetal.store.images import get_resource

        try:
            image = build_image(cache)
        except ImageBuildError as error:
            raise TaskError(str(error)) from None
        resource_id = store_busybox(self.store, image.architecture, image.files["vmlinuz"],
                                    image.files["initrd"], image.kernel_version)
        with self.store.read() as conn:
            found = get_resource(conn, resource_id)
        newest = found["sets"][0] if found and found["sets"] else {"files": {}}
        return [{"architecture": image.architecture, "name": image.name,
                 "filename": item["filename"], "size": item["size"], "sha256": item["sha256"]}
                for item in newest["files"].values()]
