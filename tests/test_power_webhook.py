"""The webhook driver against a small HTTP server in the test."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError

from baremetal.models import PowerState
from baremetal.power import PowerFatalError, PowerRetryableError, parse_settings, perform
from baremetal.power.runner import RetryPolicy
from baremetal.power.webhook import WebhookDriver

from .live import free_port

TOKEN = "tok-3f9a"


class Plug:
    """A power controller that speaks HTTP and wants a bearer token."""

    def __init__(self) -> None:
        self.on = False
        self.requests: list[tuple[str, str, str | None]] = []
        self.fail_next = 0
        plug = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # type: ignore[no-untyped-def]
                pass

            def _answer(self, status: int, body: str = "") -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def _handle(self) -> None:
                plug.requests.append((self.command, self.path,
                                      self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._answer(401)
                if plug.fail_next:
                    plug.fail_next -= 1
                    return self._answer(503)
                if self.command == "POST" and self.path in ("/on", "/off"):
                    plug.on = self.path == "/on"
                    return self._answer(200, "ok")
                if self.command == "GET" and self.path == "/status":
                    return self._answer(200, '{"status": "%s"}' % (
                        "running" if plug.on else "stopped"))
                return self._answer(404)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def plug():
    plug = Plug()
    yield plug
    plug.server.shutdown()


def settings(url: str, token: str = TOKEN):  # type: ignore[no-untyped-def]
    return parse_settings("webhook", {
        "power_on_uri": f"{url}/on", "power_off_uri": f"{url}/off",
        "power_query_uri": f"{url}/status", "power_token": token})


FAST = RetryPolicy(attempts=3, first_delay=0.05)


def test_on_off_query(plug):
    driver, s = WebhookDriver(), settings(plug.url)
    assert perform(driver, s, "query", FAST) is PowerState.OFF
    assert perform(driver, s, "on", FAST) is PowerState.ON and plug.on
    assert perform(driver, s, "off", FAST) is PowerState.OFF and not plug.on
    assert ("POST", "/on", f"Bearer {TOKEN}") in plug.requests


def test_basic_auth_is_sent_when_no_token(plug):
    s = parse_settings("webhook", {
        "power_on_uri": f"{plug.url}/on", "power_off_uri": f"{plug.url}/off",
        "power_query_uri": f"{plug.url}/status", "power_user": "u", "power_pass": "p"})
    with pytest.raises(PowerFatalError, match="refused the credentials"):
        perform(WebhookDriver(), s, "query", FAST)
    assert plug.requests[-1][2] == "Basic dTpw"


def test_wrong_token_is_fatal_and_not_retried(plug):
    with pytest.raises(PowerFatalError, match="HTTP 401"):
        perform(WebhookDriver(), settings(plug.url, token="nope"), "on", FAST)
    assert len(plug.requests) == 1


def test_server_errors_are_retried(plug):
    plug.fail_next = 2
    assert perform(WebhookDriver(), settings(plug.url), "query", FAST) is PowerState.OFF
    assert len(plug.requests) == 3


def test_unreachable_is_retryable():
    with pytest.raises(PowerRetryableError, match="gave up after 3 attempts"):
        perform(WebhookDriver(), settings(f"http://127.0.0.1:{free_port()}"), "query", FAST)


def test_settings_are_validated():
    with pytest.raises(ValidationError) as raised:
        parse_settings("webhook", {"power_on_uri": "ftp://x", "power_off_uri": "http://x/",
                                   "power_query_uri": "http://x/", "power_on_regex": "(("})
    fields = {e["loc"][0] for e in raised.value.errors()}
    assert fields == {"power_on_uri", "power_on_regex"}
