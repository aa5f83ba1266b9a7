"""Virtual BMCs served from the test process (the IPMI client runs in the driver's worker
processes, so client and server never share pyghmi's process-wide state)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from baremetal.sim.bmc import VirtualBmc, serve_forever


@contextmanager
def virtual_bmcs(count: int, username: str = "admin",
                 password: str = "password") -> Iterator[list[VirtualBmc]]:
    bmcs = [VirtualBmc(username, password, 0) for _ in range(count)]
    stop = threading.Event()
    thread = threading.Thread(target=serve_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield bmcs
    finally:
        stop.set()
        thread.join(timeout=5)
        for bmc in bmcs:
            bmc.close()
