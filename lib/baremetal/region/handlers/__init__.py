"""Importing this package registers every API resource in the registry, in the order
they appear in `describe/`."""

from . import (  # noqa: F401
    catalog,
    devices,
    events,
    files,
    general,
    images,
    machine,
    machines,
    network,
    results,
    users,
)
