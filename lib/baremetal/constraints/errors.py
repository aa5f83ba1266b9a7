"""The one error type of constraint parsing and checking."""

from __future__ import annotations


class ConstraintError(ValueError):
    """A constraint the region cannot accept; the API answers 400 with ``str(error)``.

    ``field`` names the offending parameter and ``message`` is MAAS's wording, so the body
    reads like MAAS's: ``{"zone": ["No such zone: 'rack9'."]}``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
