"""The decision as each first-stage bootloader wants it (jinja2 templates)."""

from __future__ import annotations

from jinja2 import Environment, StrictUndefined

from .decisions import BootDecision, Purpose

_env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)

_IPXE = _env.from_string("""#!ipxe
{% if d.purpose == "local" -%}
echo Booting the local disk
exit
{%- else -%}
echo {{ d.purpose }}: {{ d.kernel }}
kernel {{ d.kernel }} {{ d.cmdline }}
initrd {{ d.initrd }}
boot
{%- endif %}
""")

_PXELINUX = _env.from_string("""DEFAULT baremetal
{% if d.purpose == "local" -%}
LABEL baremetal
  LOCALBOOT 0
{%- else -%}
LABEL baremetal
  KERNEL {{ d.kernel }}
  INITRD {{ d.initrd }}
  APPEND {{ d.cmdline }}
{%- endif %}
""")

def _grub_path(url: str) -> str:
    """GRUB names an HTTP file `(http,host:port)/path`."""
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    return f"(http,{host})/{path}"


def render_ipxe(decision: BootDecision) -> str:
    return _IPXE.render(d=decision)


def render_pxelinux(decision: BootDecision) -> str:
    return _PXELINUX.render(d=decision)


_GRUB = _env.from_string("""set default=0
set timeout=0
{% if d.purpose == "local" -%}
menuentry 'Local disk' {
  exit
}
{%- else -%}
menuentry '{{ d.purpose }}' {
  linux {{ kernel }} {{ d.cmdline }}
  initrd {{ initrd }}
}
{%- endif %}
""")


def render_grub(decision: BootDecision) -> str:
    if decision.purpose is Purpose.LOCAL:
        return _GRUB.render(d=decision, kernel="", initrd="")
    return _GRUB.render(d=decision, kernel=_grub_path(decision.kernel),
                        initrd=_grub_path(decision.initrd))


RENDERERS = {"ipxe": render_ipxe, "pxelinux": render_pxelinux, "grub": render_grub}
