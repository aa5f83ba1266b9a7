"""Power jobs survive workers: queued with none running, and a worker killed mid-job."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from baremetal.children import die_with_parent
from baremetal.store import schema as t
from baremetal.store.machines import NewMachine
from baremetal.store.power import get_power_job

from .api import oauth_header
from .bmcs import virtual_bmcs
from .conftest import add_ready
from .live import BAREMETAL


def _worker(url: str, name: str, lease: float = 30) -> subprocess.Popen:
    return subprocess.Popen([str(BAREMETAL), "power-worker", "--database-url", url,
                             "--name", name, "--lease", str(lease), "--poll-interval", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=die_with_parent)


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _job(store, job_id):  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return get_power_job(conn, job_id)


def _last_job_id(store) -> int:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return conn.execute(select(t.power_jobs.c.id).order_by(t.power_jobs.c.id.desc())
                            ).scalars().first()


def test_a_job_accepted_with_no_worker_runs_when_one_starts(api):
    with virtual_bmcs(1, "admin", "pw-1234") as (bmc,):
        [system_id] = add_ready(api.store, [NewMachine(
            hostname="lonely", power_type="ipmi", power_parameters={
                "power_address": f"127.0.0.1:{bmc.port}", "power_user": "admin",
                "power_pass": "pw-1234"})])
        response = api.call("POST", f"machines/{system_id}/?op=power_on", api.admin_key)
        assert response.status_code == 200
        job_id = _last_job_id(api.store)
        time.sleep(1)
        assert _job(api.store, job_id).status == "queued" and bmc.power == "off"
        worker = _worker(api.store.url, "late-worker")
        try:
            _wait(lambda: _job(api.store, job_id).status == "done", 60, "the job to run")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        assert bmc.power == "on" and bmc.booted_from == ["network"]
        assert _job(api.store, job_id).worker == "late-worker"
        machine = api.call("GET", f"machines/{system_id}/", api.admin_key).get_json()
        assert machine["power_state"] == "on"


class SlowPlug:
    """A webhook power controller that takes seconds to answer power-on."""

    def __init__(self, delay: float) -> None:
        self.on = False
        self.posts = 0
        plug = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # type: ignore[no-untyped-def]
                pass

            def _answer(self, body: str) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def do_POST(self):  # type: ignore[no-untyped-def]
                plug.posts += 1
                time.sleep(delay)
                plug.on = self.path == "/on"
                self._answer("ok")

            def do_GET(self):  # type: ignore[no-untyped-def]
                self._answer("status: running" if plug.on else "status: stopped")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_it_to_be_claimed_again(api):
    plug = SlowPlug(delay=3)
    [system_id] = add_ready(api.store, [NewMachine(
        hostname="slowpoke", power_type="webhook", power_parameters={
            "power_on_uri": f"{plug.url}/on", "power_off_uri": f"{plug.url}/off",
            "power_query_uri": f"{plug.url}/status"})])
    assert api.call("POST", f"machines/{system_id}/?op=power_on",
                    api.admin_key).status_code == 200
    job_id = _last_job_id(api.store)
    doomed = _worker(api.store.url, "doomed", lease=2)
    try:
        _wait(lambda: plug.posts == 1, 30, "the first worker to reach the plug")
        assert _job(api.store, job_id).status == "running"
    finally:
        doomed.kill()  # SIGKILL: no goodbye, the lease is all that is left
        doomed.wait(timeout=30)
    rescuer = _worker(api.store.url, "rescuer", lease=2)
    try:
        _wait(lambda: _job(api.store, job_id).status == "done", 60, "the job to be rerun")
    finally:
        rescuer.terminate()
        rescuer.wait(timeout=30)
    job = _job(api.store, job_id)
    assert job.worker == "rescuer" and job.attempts == 2 and job.result == "on"
    assert plug.posts == 2 and plug.on
    plug.server.shutdown()


def test_query_power_state_answers_from_a_worker(api):
    with virtual_bmcs(1, "admin", "pw-1234") as (bmc,):
        bmc.power = "on"
        [system_id] = add_ready(api.store, [NewMachine(
            hostname="asked", power_type="ipmi", power_parameters={
                "power_address": f"127.0.0.1:{bmc.port}", "power_user": "admin",
                "power_pass": "pw-1234"})])
        api.client.application.config["POWER_QUERY_TIMEOUT"] = 30
        worker = _worker(api.store.url, "answering")
        try:
            response = api.client.get(f"/MAAS/api/2.0/machines/{system_id}/?op=query_power_state",
                                      headers={"Authorization": oauth_header(api.user_key)})
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        assert response.get_json() == {"state": "on"}, response.get_data(as_text=True)


def test_describe_power_types_and_parameter_validation(api):
    types = api.call("GET", "general/?op=describe_power_types", api.user_key).get_json()
    ipmi = next(t for t in types if t["name"] == "ipmi")
    fields = {f["name"]: f for f in ipmi["fields"]}
    assert fields["power_pass"]["field_type"] == "password"
    assert fields["power_address"]["required"] is True
    assert {"power_driver", "cipher_suite_id", "privilege_level", "k_g",
            "mac_address"} <= set(fields)
    assert {t["name"] for t in types} == {"ipmi", "redfish", "webhook", "manual"}
    bad = api.call("POST", "machines/", api.admin_key, data={
        "power_type": "ipmi", "power_parameters_power_user": "x"})
    assert bad.status_code == 400
    assert "power_parameters_power_address" in bad.get_data(as_text=True)
    bad = api.call("POST", "machines/", api.admin_key, data={
        "power_type": "ipmi", "power_parameters_power_address": "10.0.0.1",
        "power_parameters_colour": "red"})
    assert bad.status_code == 400 and "power_parameters_colour" in bad.get_data(True)
    system_id = api.call("GET", "machines/", api.admin_key).get_json()[0]["system_id"]
    before = api.call("GET", f"machines/?op=power_parameters&id={system_id}",
                      api.admin_key).get_json()[system_id]
    bad = api.call("PUT", f"machines/{system_id}/", api.admin_key,
                   data={"power_parameters_privilege_level": "ROOT"})
    assert bad.status_code == 400 and "privilege_level" in bad.get_data(as_text=True)
    good = api.call("PUT", f"machines/{system_id}/", api.admin_key,
                    data={"power_parameters_privilege_level": "ADMIN"})
    assert good.status_code == 200
    params = api.call("GET", f"machines/?op=power_parameters&id={system_id}",
                      api.admin_key).get_json()[system_id]
    # The update merges: the address given before is kept.
    assert params == {**before, "privilege_level": "ADMIN"}
