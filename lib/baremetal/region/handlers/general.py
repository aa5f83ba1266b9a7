"""version/ and describe/: anonymous, and what clients fetch first."""

from __future__ import annotations

from baremetal import __version__
from baremetal.power import describe_power_types

from ..errors import BadRequest
from ..registry import registry

MAAS_VERSION = "3.5.0"
CAPABILITIES = [
    "networks-management", "static-ipaddresses", "ipv6-deployment-ubuntu",
    "devices-management", "storage-deployment-ubuntu", "network-deployment-ubuntu",
    "bridging-interface-ubuntu", "bridging-automatic-ubuntu", "authenticate-api",
]

version = registry.resource("VersionHandler", "/version/",
                            "Information about this MAAS-compatible region.", anonymous=True)
describe = registry.resource("AnonDescribeHandler", "/describe/",
                             "The description of this API, for clients to build themselves.",
                             anonymous=True)


@version.action("GET")
def read_version(call):  # type: ignore[no-untyped-def]
    """Version and capabilities of the region."""
    return {"capabilities": CAPABILITIES, "version": MAAS_VERSION,
            "subversion": f"baremetal {__version__}"}


@describe.action("GET")
def read_describe(call):  # type: ignore[no-untyped-def]
    """The API description, generated from the handler registry."""
    return registry.describe(call.base_url)


general = registry.resource("GeneralHandler", "/general/",
                            "Information about what this region supports.")


@general.action("GET", "describe_power_types")
def describe_power_types_action(call):  # type: ignore[no-untyped-def]
    """Every power type with its settings (fields), generated from the drivers' schemas."""
    call.viewer  # noqa: B018  (signed-in users only)
    return describe_power_types()


maas = registry.resource("MaasHandler", "/maas/", "The region's configuration.")


@maas.action("GET", "get_config")
def get_config_action(call):  # type: ignore[no-untyped-def]
    """The value of the configuration item `name` (e.g. default_distro_series,
    commissioning_distro_series)."""
    from baremetal.store.config import ConfigError, get_config

    call.viewer  # noqa: B018  (signed-in users only)
    try:
        with call.store.read() as conn:
            return get_config(conn, call.params.required("name"))
    except ConfigError as error:
        raise BadRequest(str(error)) from None


@maas.action("POST", "set_config", admin=True)
def set_config_action(call):  # type: ignore[no-untyped-def]
    """Set the configuration item `name` to `value`."""
    from baremetal.store.config import ConfigError, set_config

    call.require_admin()
    try:
        with call.store.write() as conn:
            set_config(conn, call.params.required("name"), call.params.get("value") or "")
    except ConfigError as error:
        raise BadRequest(str(error)) from None
    return "OK"
