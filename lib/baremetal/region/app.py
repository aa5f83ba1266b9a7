"""The Flask app factory. Everything lives under /MAAS/; state lives in the Store."""

from __future__ import annotations

from flask import Flask, jsonify

from baremetal import __version__
from baremetal.store import Store

MAAS_VERSION = "3.5.0"
CAPABILITIES = [
    "networks-management", "static-ipaddresses", "ipv6-deployment-ubuntu",
    "devices-management", "storage-deployment-ubuntu", "network-deployment-ubuntu",
    "bridging-interface-ubuntu", "bridging-automatic-ubuntu", "authenticate-api",
]


def create_app(store: Store) -> Flask:
    app = Flask("baremetal.region")
    app.extensions["baremetal.store"] = store

    @app.get("/MAAS/api/2.0/version/")
    def version():  # type: ignore[no-untyped-def]
        return jsonify({
            "capabilities": CAPABILITIES,
            "version": MAAS_VERSION,
            "subversion": f"baremetal {__version__}",
        })

    return app
