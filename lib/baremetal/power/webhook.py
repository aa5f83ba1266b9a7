"""Webhook power: configurable URLs for on, off and query, a regex for the state, bearer
or basic auth. For PDUs, home-made controllers and anything with an HTTP API."""

from __future__ import annotations

import re

import requests
from pydantic import SecretStr, field_validator

from baremetal.models import PowerState

from .base import DriverSettings, PowerDriver, setting
from .errors import PowerFatalError, PowerRetryableError

TIMEOUT = (3.05, 10)


class WebhookSettings(DriverSettings):
    power_on_uri: str = setting("URI to power on the node", min_length=1)
    power_off_uri: str = setting("URI to power off the node", min_length=1)
    power_query_uri: str = setting("URI to query the node's power status", min_length=1)
    power_on_regex: str = setting("Regex to confirm the node is on", default=r"status.*\:.*running")
    power_off_regex: str = setting("Regex to confirm the node is off",
                                   default=r"status.*\:.*stopped")
    power_user: str = setting("Power user", default="")
    power_pass: SecretStr = setting("Power password", default=SecretStr(""), secret=True)
    power_token: SecretStr = setting("Power token (bearer)", default=SecretStr(""), secret=True)
    power_verify_ssl: bool = setting("Verify SSL connections with system CA certificates",
                                     default=False)

    @field_validator("power_on_uri", "power_off_uri", "power_query_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("power_on_regex", "power_off_regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"is not a valid regular expression ({error})") from None
        return value


class WebhookDriver(PowerDriver):
    name = "webhook"
    description = "Webhook"
    settings = WebhookSettings

    def _request(self, s: WebhookSettings, method: str, url: str) -> str:
        headers = {"User-Agent": "baremetal"}
        auth = None
        token = s.secret("power_token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif s.power_user:
            auth = (s.power_user, s.secret("power_pass"))
        try:
            response = requests.request(method, url, headers=headers, auth=auth,
                                        timeout=TIMEOUT, verify=s.power_verify_ssl)
        except requests.Timeout:
            raise PowerRetryableError(f"The webhook {url} did not answer in time.") from None
        except requests.RequestException as error:
            raise PowerRetryableError(f"Cannot reach the webhook {url}: {error}") from None
        if response.status_code in (401, 403):
            raise PowerFatalError(f"The webhook {url} refused the credentials "
                                  f"(HTTP {response.status_code}).")
        if response.status_code >= 500:
            raise PowerRetryableError(f"The webhook {url} failed (HTTP {response.status_code}).")
        if response.status_code >= 400:
            raise PowerFatalError(f"The webhook {url} refused the request "
                                  f"(HTTP {response.status_code}).")
        return response.text

    def power_on(self, s: WebhookSettings) -> None:
        self._request(s, "POST", s.power_on_uri)

    def power_off(self, s: WebhookSettings) -> None:
        self._request(s, "POST", s.power_off_uri)

    def power_query(self, s: WebhookSettings) -> PowerState:
        body = self._request(s, "GET", s.power_query_uri)
        if re.search(s.power_on_regex, body):
            return PowerState.ON
        if re.search(s.power_off_regex, body):
            return PowerState.OFF
        raise PowerFatalError(f"The webhook's answer matches neither power_on_regex nor "
                              f"power_off_regex: {body[:120]!r}")
