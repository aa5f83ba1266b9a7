"""Persistence: the schema, its migrations, and the queries the rest of the product uses."""

from .engine import Store, default_database_url, normalise_url, utcnow

__all__ = ["Store", "default_database_url", "normalise_url", "utcnow"]
