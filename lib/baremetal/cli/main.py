"""The `baremetal` command: run the region, the rack, the simulator; and talk to a region."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from baremetal.store import Store, default_database_url

from . import accounts

log = logging.getLogger("baremetal")


def default_data_dir() -> Path:
    configured = os.environ.get("BAREMETAL_DATA_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".local" / "share" / "baremetal"


def open_store(args: argparse.Namespace) -> Store:
    url = args.database_url or os.environ.get("BAREMETAL_DATABASE_URL") or default_database_url(
        args.data_dir)
    store = Store(url)
    store.migrate()
    from baremetal.store.references import ensure_defaults

    with store.write() as conn:
        ensure_defaults(conn)
    return store


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="where the SQLite database and images live (default: %(default)s)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL; postgresql://... for production "
                             "(default: SQLite in the data directory)")


def _serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5240)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)


def _boot(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--boot-dir", type=Path, default=None,
                        help="bootloaders, cached images and the DHCP config (default: "
                             "rack/ in the data directory)")
    parser.add_argument("--listen", default="0.0.0.0", help="address TFTP and HTTP bind to")
    parser.add_argument("--tftp-port", type=int, default=69)
    parser.add_argument("--http-port", type=int, default=5248)
    parser.add_argument("--advertise", default=None,
                        help="the address machines reach this rack at (default: found "
                             "from the interface on the machine's subnet)")
    parser.add_argument("--no-dhcp", action="store_true", help="do not run dnsmasq")
    parser.add_argument("--no-boot", action="store_true",
                        help="no TFTP, HTTP boot or DHCP: power jobs only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baremetal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="region, power worker and rack on one machine "
                                        "(SQLite by default)")
    _common(up)
    _serve(up)
    _boot(up)
    up.add_argument("--no-os-image", action="store_true",
                    help="do not build the default OS image on first start")
    up.add_argument("--simulate", type=int, default=0, metavar="N",
                    help="also run N simulated machines that PXE boot from this rack, "
                         "enlist and are commissioned")
    region = commands.add_parser("region", help="the region API under gunicorn")
    _common(region)
    _serve(region)
    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    _common(migrate)
    worker = commands.add_parser("power-worker", help="run power jobs and the power poller")
    _common(worker)
    worker.add_argument("--name", default=None, help="worker name (default: host:pid)")
    worker.add_argument("--concurrency", type=int, default=16)
    worker.add_argument("--lease", type=float, default=30.0,
                        help="seconds a claimed job is held before another worker may take it")
    worker.add_argument("--poll-interval", type=float, default=60.0,
                        help="seconds between power polls (0: no polling)")
    rack = commands.add_parser("rack", help="the rack agent: registers with a region, runs "
                                            "power jobs and the power poller")
    rack.add_argument("--region-url", required=True, help="e.g. http://10.0.0.1:5240")
    rack.add_argument("--secret", default=os.environ.get("BAREMETAL_RACK_SECRET"),
                      help="from `baremetal rack-secret` (default: $BAREMETAL_RACK_SECRET)")
    rack.add_argument("--name", default=None, help="this rack's name (default: host name)")
    rack.add_argument("--concurrency", type=int, default=16)
    rack.add_argument("--poll-interval", type=float, default=60.0)
    _boot(rack)
    rack.add_argument("--no-power", action="store_true",
                      help="do not run power jobs (another worker does)")
    from . import images, interfaces
    from .client import add_parsers

    common = add_parsers(commands)
    images.add_parser(commands, common, _common)
    interfaces.add_parser(commands, common)
    token = commands.add_parser("enlistment-token",
                                help="print (or rotate) the token unknown machines enlist with")
    _common(token)
    token.add_argument("--rotate", action="store_true")
    secret = commands.add_parser("rack-secret", help="print the secret racks register with")
    _common(secret)
    admin = commands.add_parser("createadmin", help="create an administrator")
    _common(admin)
    admin.add_argument("--username", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--email", default="")
    apikey = commands.add_parser("apikey", help="create, list or delete a user's API keys")
    _common(apikey)
    apikey.add_argument("--username", required=True)
    group = apikey.add_mutually_exclusive_group()
    group.add_argument("--generate", action="store_true", help="create a key (the default)")
    group.add_argument("--list", action="store_true", help="list the user's keys")
    group.add_argument("--delete", metavar="KEY", help="delete this key")
    return parser


def serve(args: argparse.Namespace) -> int:
    from .serve import run_gunicorn

    os.environ.setdefault("BAREMETAL_DATA_DIR", str(args.data_dir))  # images live there too
    store = open_store(args)
    url = store.url
    missing = _missing_os_image(store) if args.command == "up" and not args.no_os_image \
        else None
    store.dispose()  # the workers open their own connections
    print(f"baremetal region: http://{args.host}:{args.port}/MAAS/ (database: "
          f"{url.split('@')[-1]})", flush=True)
    children = []
    if missing:
        children.append(start_os_image_build(args, url, missing))
    if args.command == "up" and not args.no_boot:
        children.append(start_local_rack(args, url))
        if args.simulate > 0:
            from .simulate import start_simulation

            children.append(start_simulation(args, url))
    try:
        run_gunicorn(url, host=args.host, port=args.port, workers=args.workers,
                     threads=args.threads, power_worker=args.command == "up")
    finally:
        for child in children:
            child.terminate()
            child.wait(timeout=30)
    return 0


def _missing_os_image(store: Store) -> str | None:
    """The default OS image's name, if the region does not have it."""
    from baremetal.store.config import get_config, series_image_name
    from baremetal.store.images import available_names

    with store.read() as conn:
        wanted = series_image_name(get_config(conn, "default_osystem"),
                                   get_config(conn, "default_distro_series"))
        return None if wanted in available_names(conn) else wanted


def start_os_image_build(args: argparse.Namespace, database_url: str, name: str):  # type: ignore[no-untyped-def]
    """As MAAS imports images on its first start: the default OS image is built in the
    background (a child process; cached by its inputs), while the API already answers.
    Its progress is in the log, `baremetal images list` and the UI."""
    import subprocess

    from baremetal.children import die_with_parent

    print(f"baremetal up: no {name} image yet; building it in the background", flush=True)
    return subprocess.Popen(
        [sys.executable, "-m", "baremetal.cli", "images", "build", "--os", name,
         "--database-url", database_url, "--data-dir", str(args.data_dir)],
        preexec_fn=die_with_parent)


def start_local_rack(args: argparse.Namespace, database_url: str):  # type: ignore[no-untyped-def]
    """`up`'s rack: the same agent as `baremetal rack`, in a child process talking to this
    region over the rack protocol (power jobs stay with the in-process worker). The secret
    goes through the environment, never the command line."""
    import socket
    import subprocess

    from baremetal.children import die_with_parent
    from baremetal.store.racks import rack_secret

    store = Store(database_url)
    with store.write() as conn:
        secret = rack_secret(conn)
    store.dispose()
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host

    command = [sys.executable, "-m", "baremetal.cli", "rack",
               "--region-url", f"http://{host}:{args.port}", "--name",
               f"{socket.gethostname()}-rack", "--no-power", "--boot-dir",
               str(args.boot_dir or args.data_dir / "rack"),
               "--listen", args.listen, "--tftp-port", str(args.tftp_port),
               "--http-port", str(args.http_port)]
    if args.advertise:
        command += ["--advertise", args.advertise]
    if args.no_dhcp:
        command.append("--no-dhcp")
    return subprocess.Popen(command, env={**os.environ, "BAREMETAL_RACK_SECRET": secret},
                            preexec_fn=die_with_parent)



def power_worker(args: argparse.Namespace) -> int:
    """Run power jobs and poll power states against the database (a rack does this over
    HTTP; this is the same worker reading the store directly)."""
    import socket
    from datetime import timedelta

    from baremetal.power.worker import PowerWorker, StoreJobSource

    store = open_store(args)
    name = args.name or f"{socket.gethostname()}:{os.getpid()}"
    worker = PowerWorker(StoreJobSource(store, name, timedelta(seconds=args.lease)),
                         concurrency=args.concurrency,
                         poll_interval=None if args.poll_interval <= 0 else args.poll_interval)
    print(f"power worker {name} running", flush=True)
    try:
        worker.run()
    except KeyboardInterrupt:
        worker.stop.set()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .client import CLIENT_COMMANDS

    if (args.command == "images" and args.images_command != "build") \
            or args.command == "interfaces":
        from . import images, interfaces
        from .client import CommandError

        try:
            return (images if args.command == "images" else interfaces).client(args)
        except CommandError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.command in CLIENT_COMMANDS:
        from .client import main as client_main

        return client_main(args)
    serving = args.command in ("up", "region", "power-worker", "rack")
    logging.basicConfig(level=logging.INFO if serving else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command in ("up", "region"):
        return serve(args)
    if args.command == "migrate":
        open_store(args).dispose()
        print("database is at the latest schema")
        return 0
    if args.command == "power-worker":
        return power_worker(args)
    if args.command == "rack":
        from baremetal.rack.agent import BootOptions, RackAgent, RegionRefused

        if not args.secret:
            print("rack: --secret (or $BAREMETAL_RACK_SECRET) is required", file=sys.stderr)
            return 2
        boot = None if args.no_boot else BootOptions(
            args.boot_dir or default_data_dir() / "rack", address=args.listen,
            tftp_port=args.tftp_port, http_port=args.http_port, advertise=args.advertise,
            dhcp=not args.no_dhcp)
        agent = RackAgent(args.region_url, args.secret, args.name,
                          concurrency=args.concurrency,
                          poll_interval=None if args.poll_interval <= 0 else args.poll_interval,
                          boot=boot, power=not args.no_power)
        import signal

        # systemd and `up` stop the rack with SIGTERM: stop its services (dnsmasq) cleanly.
        signal.signal(signal.SIGTERM, lambda *_: agent.stop.set())
        try:
            agent.run()
        except RegionRefused as error:
            print(f"rack: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            agent.stop.set()
        return 0
    if args.command == "rack-secret":
        from baremetal.store.racks import rack_secret

        with open_store(args).write() as conn:
            print(rack_secret(conn))
        return 0
    if args.command == "images":
        from .images import build

        store = open_store(args)
        try:
            return build(args, store)
        finally:
            store.dispose()
    if args.command == "enlistment-token":
        from baremetal.store.boot import enlistment_token, rotate_enlistment_token

        with open_store(args).write() as conn:
            print(rotate_enlistment_token(conn) if args.rotate else enlistment_token(conn))
        return 0
    if args.command == "createadmin":
        return accounts.create_admin(open_store(args), args)
    if args.command == "apikey":
        return accounts.api_keys(open_store(args), args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
