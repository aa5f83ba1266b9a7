"""Power errors are typed: retrying helps some and never others."""

from __future__ import annotations


class PowerError(Exception):
    """A power action failed; the message says why in words an operator can act on."""


class PowerFatalError(PowerError):
    """Retrying cannot help: wrong credentials, bad settings, unsupported action."""


class PowerRetryableError(PowerError):
    """The BMC did not answer or answered too late: worth another try after a pause."""
