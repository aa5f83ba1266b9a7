"""baremetal: metal-as-a-service with a MAAS API 2.0 compatible region."""

__version__ = "0.1.0"
