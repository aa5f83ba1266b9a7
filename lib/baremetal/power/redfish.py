"""Redfish through sushy: one-time PXE boot override and reset actions."""

from __future__ import annotations

import sushy
from pydantic import SecretStr, field_validator
from sushy import exceptions as sushy_errors

from baremetal.models import PowerState

from .base import BootDevice, DriverSettings, PowerDriver, setting
from .errors import PowerFatalError, PowerRetryableError


class RedfishSettings(DriverSettings):
    power_address: str = setting("Redfish address (http[s]://host[:port] or host)",
                                 min_length=1)
    power_user: str = setting("Redfish user", default="")
    power_pass: SecretStr = setting("Redfish password", default=SecretStr(""), secret=True)
    node_id: str = setting("Node ID (the system's Redfish identity; default: the first)",
                           default="", scope="node")
    power_verify_ssl: bool = setting("Verify the BMC's TLS certificate", default=False)

    @field_validator("power_address")
    @classmethod
    def _address(cls, value: str) -> str:
        return value if "://" in value else f"https://{value}"


class RedfishDriver(PowerDriver):
    name = "redfish"
    description = "Redfish"
    settings = RedfishSettings
    # Redfish services apply resets asynchronously; servers take many seconds to change.
    settle_seconds = 30.0

    def _system(self, s: RedfishSettings):  # type: ignore[no-untyped-def]
        try:
            # Retries are the runner's job (with its backoff): sushy's own (10 x 3 s by
            # default) would multiply them.
            root = sushy.Sushy(f"{s.power_address.rstrip('/')}/redfish/v1",
                               username=s.power_user, password=s.secret("power_pass"),
                               verify=s.power_verify_ssl, server_side_retries=0)
            if s.node_id:
                return root.get_system(f"/redfish/v1/Systems/{s.node_id}")
            members = root.get_system_collection().get_members()
            if not members:
                raise PowerFatalError(f"The Redfish service at {s.power_address} has no system.")
            return members[0]
        except sushy_errors.AccessError as error:
            raise PowerFatalError(f"The Redfish service at {s.power_address} refused the "
                                  f"credentials: {error}") from None
        except sushy_errors.ResourceNotFoundError:
            raise PowerFatalError(f"No Redfish system '{s.node_id}' at {s.power_address}.") \
                from None
        except sushy_errors.ConnectionError as error:
            raise PowerRetryableError(f"Cannot reach the Redfish service at "
                                      f"{s.power_address}: {error}") from None
        except sushy_errors.SushyError as error:
            raise PowerRetryableError(f"The Redfish service at {s.power_address} failed: "
                                      f"{error}") from None

    def _act(self, s: RedfishSettings, action) -> object:  # type: ignore[no-untyped-def]
        system = self._system(s)
        try:
            return action(system)
        except sushy_errors.AccessError as error:
            raise PowerFatalError(f"Redfish refused the action: {error}") from None
        except sushy_errors.BadRequestError as error:
            raise PowerFatalError(f"Redfish refused the request: {error}") from None
        except sushy_errors.SushyError as error:
            raise PowerRetryableError(f"Redfish action failed: {error}") from None

    def power_on(self, s: RedfishSettings) -> None:
        def on(system):  # type: ignore[no-untyped-def]
            system.set_system_boot_options(sushy.BootSource.PXE,
                                           enabled=sushy.BootSourceOverrideEnabled.ONCE)
            if system.power_state == sushy.PowerState.ON:
                system.reset_system(sushy.ResetType.FORCE_RESTART)
            else:
                system.reset_system(sushy.ResetType.ON)

        self._act(s, on)

    def power_off(self, s: RedfishSettings) -> None:
        self._act(s, lambda system: system.reset_system(sushy.ResetType.FORCE_OFF))

    def power_cycle(self, s: RedfishSettings) -> None:
        def cycle(system):  # type: ignore[no-untyped-def]
            # The region cycles a machine to PXE boot it (erase, commission), as MAAS does:
            # a server that boots its disk first must not boot the installed OS instead.
            system.set_system_boot_options(sushy.BootSource.PXE,
                                           enabled=sushy.BootSourceOverrideEnabled.ONCE)
            system.reset_system(sushy.ResetType.FORCE_RESTART)

        self._act(s, cycle)

    def power_query(self, s: RedfishSettings) -> PowerState:
        state = self._act(s, lambda system: system.power_state)
        # A transition counts as the state it is heading for.
        if state in (sushy.PowerState.ON, sushy.PowerState.POWERING_ON):
            return PowerState.ON
        if state in (sushy.PowerState.OFF, sushy.PowerState.POWERING_OFF):
            return PowerState.OFF
        return PowerState.UNKNOWN

    def set_boot_device(
        self, s: RedfishSettings, device: BootDevice, one_time: bool = True
    ) -> None:
        target = sushy.BootSource.PXE if device == "pxe" else sushy.BootSource.HDD
        enabled = (sushy.BootSourceOverrideEnabled.ONCE if one_time
                   else sushy.BootSourceOverrideEnabled.CONTINUOUS)
        self._act(s, lambda system: system.set_system_boot_options(target, enabled=enabled))
