"""The packed charms (`tox -e pack`) and the bundle: the archives hold what charmcraft
would put there, `dispatch` is executable, src/charm.py imports with the packed lib/ and
src/ on the path; every relation of the bundle joins endpoints that exist with the same
interface."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# The postgresql charm's endpoint the bundle uses (charmhub postgresql, 16/stable).
POSTGRESQL = {"database": ("provides", "postgresql_client")}


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    out = tmp_path_factory.mktemp("charms")
    done = subprocess.run([sys.executable, str(ROOT / "charms/pack.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", ["region", "rack"])
def test_the_archive_has_what_charmcraft_packs(packed, name, tmp_path):
    with zipfile.ZipFile(packed / f"{name}.charm") as archive:
        names = set(archive.namelist())
        for wanted in ("metadata.yaml", "config.yaml", "actions.yaml", "manifest.yaml",
                       "dispatch", "src/charm.py", "lib/baremetal/__init__.py",
                       "lib/baremetal/operator.py", "lib/baremetal/images/initramfs/init"):
            assert wanted in names, wanted
        assert archive.getinfo("dispatch").external_attr >> 16 & 0o111
        assert archive.getinfo("src/charm.py").external_attr >> 16 & 0o111
        assert any(n.startswith("venv/ops/") for n in names)
        assert any(n.startswith("venv/pydantic_core/") and "cpython-312-x86_64" in n
                   for n in names)  # wheels for the Ubuntu 24.04 Python, not ours
        manifest = yaml.safe_load(archive.read("manifest.yaml"))
        assert manifest["bases"] == [{"name": "ubuntu", "channel": "24.04",
                                      "architectures": ["amd64"]}]
        metadata = yaml.safe_load(archive.read("metadata.yaml"))
        assert metadata["name"] == f"baremetal-{name}"
        archive.extractall(tmp_path)
    # src/charm.py imports with the packed lib and src first on the path (ops and the
    # binary dependencies come from this interpreter: the venv/ wheels are for 3.12).
    # The baremetal imported must be the packed one, not this checkout's.
    check = ("import os, sys; sys.path[:0] = ['lib', 'src']; import charm, baremetal; "
             "packed = os.path.realpath(baremetal.__file__); "
             "assert packed.startswith(os.path.realpath('lib') + '/'), packed; "
             "print(charm.__name__)")
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if name == "rack":
        assert any(n.startswith("venv/charmhelpers/") for n in names)


def test_the_bundle_relations_join_matching_endpoints():
    bundle = yaml.safe_load((ROOT / "bundle.yaml").read_text())
    assert bundle["applications"]["postgresql"]["channel"] == "16/stable"
    endpoints = {"postgresql": POSTGRESQL}
    for app, charm_dir in (("baremetal-region", "region"), ("baremetal-rack", "rack")):
        spec = yaml.safe_load((ROOT / "charms" / charm_dir / "charmcraft.yaml").read_text())
        assert bundle["applications"][app]["charm"] == f"./build/{charm_dir}.charm"
        endpoints[app] = {name: (role, body["interface"]) for role in ("requires", "provides",
                                                                       "peers")
                          for name, body in spec.get(role, {}).items()}
    for left, right in bundle["relations"]:
        (a, a_end), (b, b_end) = left.split(":"), right.split(":")
        a_role, a_interface = endpoints[a][a_end]
        b_role, b_interface = endpoints[b][b_end]
        assert a_interface == b_interface, (left, right)
        assert {a_role, b_role} == {"requires", "provides"}, (left, right)
