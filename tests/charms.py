"""Loading the charms for ops.testing (Scenario): each charm's src/ on the path, its
metadata, config and actions from its charmcraft.yaml, and its workload pointed at a
temporary root whose systemctl is recorded (systemd itself does not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import yaml
from ops import testing

CHARMS = Path(__file__).resolve().parent.parent / "charms"


def charmcraft(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHARMS / name / "charmcraft.yaml").read_text())


def load(name: str, module: str):  # type: ignore[no-untyped-def]
    """Import charms/<name>/src/charm.py as `<name>_charm` (both charms call it charm.py)."""
    src = str(CHARMS / name / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    spec = importlib.util.spec_from_file_location(module, CHARMS / name / "src/charm.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)  # type: ignore[union-attr]
    return loaded


def context(name: str, charm_type) -> testing.Context:  # type: ignore[no-untyped-def]
    spec = charmcraft(name)
    meta = {key: spec[key] for key in ("name", "summary", "description", "requires",
                                       "provides", "peers") if key in spec}
    return testing.Context(charm_type, meta=meta, actions=spec.get("actions", {}),
                           config=spec.get("config", {}))


def recording(workload_class, root: Path):  # type: ignore[no-untyped-def]
    """The charm's workload class, rooted at `root`, with systemctl calls recorded."""

    class Recording(workload_class):  # type: ignore[misc, valid-type]
        calls: list[tuple[str, ...]] = []

        def __init__(self, charm_dir: Path, root_: Path = root) -> None:
            super().__init__(charm_dir, root_)

        def systemctl(self, *args: str) -> None:
            Recording.calls.append(args)

    return Recording
