"""Simulated hardware for the demo and tests: virtual BMCs speaking real IPMI."""
