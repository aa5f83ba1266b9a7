"""Build region.charm and rack.charm without charmcraft or LXD (`tox -e pack`).

A .charm is a zip with what `charmcraft pack` puts in one: metadata.yaml, config.yaml and
actions.yaml (split out of charmcraft.yaml), manifest.yaml naming the Ubuntu 24.04 base,
an executable `dispatch`, `src/`, the `baremetal` package in `lib/`, and `venv/` with the
dependencies unpacked from wheels for CPython 3.12 on x86_64 (`pip download --platform
--python-version`; packages published only as source, such as charmhelpers, are built
into pure-Python wheels first).

    python charms/pack.py [--out build] [region] [rack]
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHARMS = ROOT / "charms"
DISPATCH = ('#!/bin/sh\nJUJU_DISPATCH_PATH="${JUJU_DISPATCH_PATH:-$0}" '
            'PYTHONPATH=lib:venv:src exec ./src/charm.py\n')
PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
            "--abi", "cp312", "--abi", "abi3", "--abi", "none",
            "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
            "--platform", "manylinux_2_28_x86_64", "--platform", "any"]
SOURCE_ONLY = {"charmhelpers": ["netaddr", "pyyaml", "six"]}  # and what they need


def requirements(charm: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    own = [line.strip() for line in (CHARMS / charm / "requirements.txt").read_text()
           .splitlines() if line.strip() and not line.startswith("#")]
    return sorted(set(project["dependencies"]) | set(own))


def wheels(charm: str, into: Path) -> list[Path]:
    wanted = requirements(charm)
    binary = [r for r in wanted if not any(r.startswith(s) for s in SOURCE_ONLY)]
    for name, needs in SOURCE_ONLY.items():
        if any(r.startswith(name) for r in wanted):
            binary += needs
            pinned = next(r for r in wanted if r.startswith(name))
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", pinned,
                            "-w", str(into)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", *PLATFORM, "-d",
                    str(into), *binary], check=True)
    return sorted(into.glob("*.whl"))


def manifest() -> str:
    return yaml.safe_dump({
        "charmcraft-version": "3.2.0",
        "charmcraft-started-at": datetime.datetime.now(datetime.UTC).isoformat(),
        "bases": [{"name": "ubuntu", "channel": "24.04", "architectures": ["amd64"]}],
        "analysis": {"attributes": [{"name": "language", "result": "python"},
                                    {"name": "framework", "result": "operator"}]},
    }, sort_keys=False)


def split_charmcraft(spec: dict) -> dict[str, str]:
    meta = {key: spec[key] for key in ("name", "title", "summary", "description", "requires",
                                       "provides", "peers") if key in spec}
    return {"metadata.yaml": yaml.safe_dump(meta, sort_keys=False),
            "config.yaml": yaml.safe_dump(spec.get("config", {"options": {}}),
                                          sort_keys=False),
            "actions.yaml": yaml.safe_dump(spec.get("actions", {}), sort_keys=False),
            "manifest.yaml": manifest()}


def _add_tree(archive: zipfile.ZipFile, source: Path, prefix: str) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            info = zipfile.ZipInfo(f"{prefix}/{path.relative_to(source)}")
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def pack(charm: str, out: Path, wheel_dir: Path) -> Path:
    source = CHARMS / charm
    spec = yaml.safe_load((source / "charmcraft.yaml").read_text())
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{charm}.charm"
    with tempfile.TemporaryDirectory(prefix=f"pack-{charm}-") as work:
        venv = Path(work) / "venv"
        for wheel in wheels(charm, wheel_dir / charm):
            with zipfile.ZipFile(wheel) as unpacked:
                unpacked.extractall(venv)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in split_charmcraft(spec).items():
                archive.writestr(name, text)
            archive.writestr("charmcraft.yaml", (source / "charmcraft.yaml").read_text())
            archive.writestr("requirements.txt", (source / "requirements.txt").read_text())
            info = zipfile.ZipInfo("dispatch")
            info.external_attr = 0o755 << 16
            archive.writestr(info, DISPATCH)
            _add_tree(archive, source / "src", "src")
            _add_tree(archive, ROOT / "lib" / "baremetal", "lib/baremetal")
            _add_tree(archive, venv, "venv")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("charms", nargs="*", default=["region", "rack"])
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--wheels", type=Path, default=None,
                        help="where downloaded wheels are kept (default: a temporary dir)")
    args = parser.parse_args(argv)
    wheel_dir = args.wheels or Path(tempfile.mkdtemp(prefix="charm-wheels-"))
    for charm in args.charms:
        target = pack(charm, args.out, wheel_dir)
        print(f"{target} ({target.stat().st_size // 1024} KiB)")
    if args.wheels is None:
        shutil.rmtree(wheel_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
