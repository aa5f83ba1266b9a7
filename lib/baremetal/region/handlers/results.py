"""Script results: nodes/{system_id}/results/ (MAAS's node-script-results: one entry per
run, commissioning or testing, with each script's status, exit status, runtime and
output), commissioning-results/ (the older per-script listing), and users' SSH keys
(account/prefs/sshkeys/), which deployment installs."""

from __future__ import annotations

import base64

from baremetal.store.scripts import add_ssh_key, list_script_sets, list_ssh_keys

from ..errors import BadRequest
from ..registry import registry
from .machines import visible_machine

node_results = registry.resource("NodeScriptResultsHandler", "/nodes/{system_id}/results/",
                                 "Commissioning and testing results of a machine.")
commissioning_results = registry.resource(
    "CommissioningResultsHandler", "/commissioning-results/",
    "Commissioning script outputs (older interface).")
ssh_keys = registry.resource("SSHKeysHandler", "/account/prefs/sshkeys/",
                             "The SSH keys of the logged-in user.")
TYPES = {"commissioning": "commissioning", "testing": "testing", "0": "commissioning",
         "2": "testing"}


def _output(value: bytes, include: bool) -> dict:
    return {"output": base64.b64encode(value).decode()} if include else {}


@node_results.action("GET")
def read_results(call, system_id):  # type: ignore[no-untyped-def]
    """Runs on this machine, newest first: type (commissioning or testing),
    include_output (base64 outputs), filters (comma-separated script names)."""
    p = call.params
    kind = TYPES.get((p.get("type") or "").lower()) if p.get("type") else None
    if p.get("type") and kind is None:
        raise BadRequest("type: must be commissioning or testing.")
    include = p.boolean("include_output")
    wanted = {n for n in (p.get("filters") or "").split(",") if n}
    with call.store.read() as conn:
        machine = visible_machine(call, conn, system_id)
        runs = list_script_sets(conn, [machine.id], kind)
    for run in runs:
        run["results"] = [{**{k: v for k, v in r.items() if k != "output"},
                           **_output(r["output"], include)}
                          for r in run["results"] if not wanted or r["name"] in wanted]
    return runs


@commissioning_results.action("GET")
def read_commissioning_results(call):  # type: ignore[no-untyped-def]
    """The latest commissioning outputs: system_id (repeatable), name (a script)."""
    p = call.params
    names = set(p.getlist("name"))
    out = []
    with call.store.read() as conn:
        machines = [visible_machine(call, conn, s) for s in p.getlist("system_id")]
        for machine in machines:
            runs = list_script_sets(conn, [machine.id], "commissioning")
            for result in runs[0]["results"] if runs else []:
                if names and result["name"] not in names:
                    continue
                out.append({"name": result["name"], "script_result": result["exit_status"],
                            "result_type": 0, "created": runs[0]["started"],
                            "updated": result["ended"],
                            "data": base64.b64encode(result["output"]).decode(),
                            "node": {"system_id": machine.system_id}})
    return out


@ssh_keys.action("GET")
def read_ssh_keys(call):  # type: ignore[no-untyped-def]
    """Your SSH keys."""
    with call.store.read() as conn:
        return list_ssh_keys(conn, call.viewer.id)


@ssh_keys.action("POST")
def create_ssh_key(call):  # type: ignore[no-untyped-def]
    """Add an SSH public key: key."""
    key = call.params.required("key").strip()
    if not key.startswith(("ssh-", "ecdsa-", "sk-")) or len(key.split()) < 2 or "\n" in key:
        raise BadRequest("key: not an SSH public key (expected e.g. 'ssh-ed25519 AAAA... "
                         "comment').")
    with call.store.write() as conn:
        return add_ssh_key(conn, call.viewer.id, key)
