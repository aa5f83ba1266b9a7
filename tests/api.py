"""An in-process region (Flask test client) with signed requests, for API tests."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from flask.testing import FlaskClient

from baremetal.region import create_app
from baremetal.store import Store
from baremetal.store.accounts import create_token
from baremetal.store.machines import NewBlockDevice, NewInterface, NewLink, NewMachine
from baremetal.store.references import (
    create_subnet,
    create_tag,
    create_user,
    create_vlan,
    create_zone,
)

from .conftest import add_ready
from .images import add_os_images

API = "/MAAS/api/2.0/"
BMC_PASSWORD = "bmc-Secret-9f3k"


def oauth_header(key: str) -> str:
    consumer, token, secret = key.split(":")
    return (f'OAuth realm="", oauth_consumer_key="{consumer}", oauth_token="{token}", '
            f'oauth_signature_method="PLAINTEXT", oauth_signature="{quote("&" + secret)}", '
            'oauth_nonce="1", oauth_timestamp="1", oauth_version="1.0"')


@dataclass
class Api:
    client: FlaskClient
    store: Store
    admin_key: str
    user_key: str
    other_key: str

    def call(self, method: str, path: str, key: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = oauth_header(key)
        url = path if path.startswith("/") else API + path
        return self.client.open(url, method=method, headers=headers, **kwargs)


def build_api(store: Store) -> Api:
    app = create_app(store, POWER_QUERY_TIMEOUT=0.3)
    with store.write() as conn:
        admin = create_user(conn, "admin", "admin-password", is_superuser=True)
        alice = create_user(conn, "alice", "alice-password")
        bob = create_user(conn, "bob", "bob-password")
        keys = [create_token(conn, u.id).api_key for u in (admin, alice, bob)]
        create_zone(conn, "z1")
        create_tag(conn, "gpu")
        vlan = create_vlan(conn, "fabric-1", 10, space="dmz")
        subnet = create_subnet(conn, "10.10.0.0/24", vlan, space="dmz", gateway_ip="10.10.0.1")
    add_ready(store, [
        NewMachine(hostname=f"m{n}", cpu_count=2 + n, memory=4096, zone="z1" if n % 2 else
                   "default", tags=["gpu"] if n == 1 else [], power_type="ipmi",
                   power_parameters={"power_address": f"10.0.0.{n}", "power_user": "admin",
                                     "power_pass": BMC_PASSWORD},
                   interfaces=[NewInterface(name="eth0", mac_address=f"52:54:00:12:34:{n:02x}",
                                            vlan_id=vlan, links=[NewLink(
                                                mode="static", subnet_id=subnet,
                                                ip_address=f"10.10.0.{10 + n}")])],
                   block_devices=[NewBlockDevice(name="sda", size=(50 + n) * 10**9,
                                                 model="QEMU HARDDISK", serial=f"S{n}")])
        for n in range(4)
    ])
    add_os_images(store)
    return Api(app.test_client(), store, *keys)
