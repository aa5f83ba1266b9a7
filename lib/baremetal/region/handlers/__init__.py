"""Importing this package registers every API resource in the registry, in the order
they appear in `describe/`."""

from . import (  # noqa: F401
    addresses,
    catalog,
    devices,
    events,
    files,
    general,
    images,
    interfaces,
    machine,
    machines,
    network,
    results,
    storage,
    users,
)
