"""The region controller: the Flask application serving the MAAS API 2.0."""

from .app import create_app

__all__ = ["create_app"]
