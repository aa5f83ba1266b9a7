"""Region configuration (MAAS's `maas/?op=get_config|set_config`): a few named values
with defaults, kept in the settings table."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from . import schema as t

DEFAULTS = {
    "maas_name": "baremetal",
    "default_osystem": "debian",
    "default_distro_series": "bookworm",
    # the environment machines are commissioned, tested and erased in: this image when it
    # is complete, else the busybox one
    "commissioning_osystem": "debian",
    "commissioning_distro_series": "bookworm",
    "enable_third_party_drivers": "false",
}
PREFIX = "config:"


class ConfigError(ValueError):
    pass


def get_config(conn: Connection, name: str) -> str:
    if name not in DEFAULTS:
        raise ConfigError(f"name: '{name}' is not a configuration item (one of "
                          f"{', '.join(sorted(DEFAULTS))}).")
    row = conn.execute(select(t.settings.c.value).where(t.settings.c.name == PREFIX + name)
                       ).first()
    return DEFAULTS[name] if row is None else row.value


def set_config(conn: Connection, name: str, value: str) -> None:
    get_config(conn, name)  # known names only
    key = PREFIX + name
    if conn.execute(update(t.settings).where(t.settings.c.name == key)
                    .values(value=value)).rowcount == 0:
        conn.execute(insert(t.settings).values(name=key, value=value))


def series_image_name(osystem: str, series: str) -> str:
    """`debian` + `bookworm`, or `debian/bookworm`, or `custom/x` → the image name."""
    return series if "/" in series else f"{osystem}/{series}"
