"""Boot decisions and boot configs: what a machine boots, as iPXE, PXELINUX and GRUB
configs. Pure functions; the rack serves what they produce."""

from .decisions import BootDecision, BootTarget, Purpose, decide
from .render import render_grub, render_ipxe, render_pxelinux

__all__ = ["BootDecision", "BootTarget", "Purpose", "decide", "render_grub", "render_ipxe",
           "render_pxelinux"]
