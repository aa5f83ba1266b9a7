"""The driver interface, after Ironic's hardware interfaces: a small class with a declared
settings schema and three verbs (on, off, query), plus optional boot device and cycle."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from baremetal.models import PowerState

from .errors import PowerFatalError

BootDevice = Literal["pxe", "disk"]


def setting(label: str, *, default: Any = ..., secret: bool = False, scope: str = "bmc",
            choices: list[tuple[str, str]] | None = None, **kwargs: Any) -> Any:
    """A driver setting as MAAS describes it: label, scope (bmc or node), secret, choices."""
    extra = {"label": label, "scope": scope, "secret": secret}
    if choices is not None:
        extra["choices"] = choices
    return Field(default, description=label, json_schema_extra=extra, **kwargs)


class DriverSettings(BaseModel):
    """Settings arrive as MAAS's power_parameters_* strings; unknown ones are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def secret(self, name: str) -> str:
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else (value or "")


class PowerDriver(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    settings: ClassVar[type[DriverSettings]]
    queryable: ClassVar[bool] = True
    # Seconds an action may take before its state is confirmed.
    settle_seconds: ClassVar[float] = 5.0

    @abstractmethod
    def power_on(self, settings: Any) -> None: ...

    @abstractmethod
    def power_off(self, settings: Any) -> None: ...

    @abstractmethod
    def power_query(self, settings: Any) -> PowerState: ...

    def set_boot_device(self, settings: Any, device: BootDevice, one_time: bool = True) -> None:
        raise PowerFatalError(f"The {self.name} driver cannot set the boot device.")

    def power_cycle(self, settings: Any) -> None:
        self.power_off(settings)
        self.power_on(settings)



def describe_fields(settings: type[DriverSettings]) -> list[dict[str, Any]]:
    """MAAS's describe_power_types fields for a settings model."""
    fields = []
    for name, info in settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        choices = extra.get("choices")
        field_type = "password" if extra.get("secret") else "choice" if choices else "string"
        default = None if info.is_required() else info.default
        if isinstance(default, SecretStr):
            default = ""
        fields.append({
            "name": name, "label": extra.get("label", name), "required": info.is_required(),
            "field_type": field_type, "choices": [list(c) for c in choices or []],
            "default": "" if default is None else str(default),
            "scope": extra.get("scope", "bmc"), "secret": bool(extra.get("secret")),
        })
    return fields


def bmc_host(power_parameters: dict) -> str | None:  # type: ignore[type-arg]
    """The BMC's host from power parameters (`power_address` as host, host:port or URL)."""
    address = str(power_parameters.get("power_address") or "").strip()
    if not address:
        return None
    if "://" in address:
        from urllib.parse import urlsplit

        return urlsplit(address).hostname
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address
