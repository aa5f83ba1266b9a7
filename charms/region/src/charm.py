#!/usr/bin/env python3
"""The baremetal region charm: observes events and hands the work to the workload module
and the `baremetal` package. Status is computed in one collect-status handler."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import ops
from pydantic import BaseModel, ValidationError
from region_workload import RegionWorkload

from baremetal.operator import TaskError, postgresql_url

log = logging.getLogger(__name__)
DATABASE = "database"
PEERS = "region-peers"
DATABASE_NAME = "baremetal"
REQUESTED_SECRETS = '["username", "password", "tls", "tls-ca", "uris"]'
RACK_SECRET_LABEL = "rack-shared-secret"


class DatabaseData(BaseModel):
    """What the postgresql charm publishes (credentials in a Juju secret, or plainly as
    older providers do)."""

    endpoints: str
    database: str = DATABASE_NAME
    username: str | None = None
    password: str | None = None
    secret_user: str | None = None


class RegionCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.workload = RegionWorkload(Path(self.charm_dir))
        observe = framework.observe
        for event in (self.on.install, self.on.config_changed, self.on.upgrade_charm,
                      self.on.leader_elected, self.on[PEERS].relation_changed,
                      self.on[DATABASE].relation_changed, self.on[DATABASE].relation_broken,
                      self.on.secret_changed):
            observe(event, self._reconcile)
        observe(self.on[DATABASE].relation_joined, self._request_database)
        observe(self.on["rack"].relation_joined, self._reconcile)
        observe(self.on["rack"].relation_changed, self._reconcile)
        observe(self.on["maas-api"].relation_joined, self._reconcile)
        observe(self.on["maas-api"].relation_changed, self._reconcile)
        observe(self.on["maas-api"].relation_broken, self._consumer_gone)
        observe(self.on.collect_unit_status, self._collect_status)
        for action in ("create_admin", "get_api_key", "get_api_endpoint", "add_machine",
                       "commission_node", "list_machines", "build_images"):
            observe(self.on[action.replace("_", "-")].action, getattr(self, f"_on_{action}"))

    # What the model says.

    @property
    def _database_relation(self) -> ops.Relation | None:
        return self.model.get_relation(DATABASE)

    def _postgresql(self) -> str | None:
        """The PostgreSQL URL, or None (no relation, or no credentials yet)."""
        relation = self._database_relation
        if relation is None or relation.app is None:
            return None
        raw = {k.replace("-", "_"): v for k, v in relation.data[relation.app].items()}
        try:
            data = DatabaseData.model_validate(raw)
        except ValidationError:
            return None
        username, password = data.username, data.password
        if data.secret_user:
            content = self.model.get_secret(id=data.secret_user).get_content(refresh=True)
            username, password = content.get("username"), content.get("password")
        if not username or not password:
            return None
        return postgresql_url(data.endpoints, username, password, data.database)

    def _blocked_reason(self) -> str | None:
        units = self.app.planned_units()
        if self._database_relation is None and units > 1:
            return f"{units} units need a database relation (SQLite serves one unit only)"
        return None

    def _api_url(self) -> str:
        binding = self.model.get_binding("juju-info")
        address = binding.network.ingress_address if binding else None
        return f"http://{address or '127.0.0.1'}:{self.config['port']}/MAAS/"

    # Events.

    def _request_database(self, event: ops.RelationJoinedEvent) -> None:
        if self.unit.is_leader():
            event.relation.data[self.app].update({
                "database": DATABASE_NAME, "requested-secrets": REQUESTED_SECRETS})
        self._reconcile(event)

    def _reconcile(self, event: ops.EventBase) -> None:
        if self._blocked_reason():
            return
        postgresql = self._postgresql()
        if self._database_relation is not None and postgresql is None:
            return  # waiting for the database's credentials
        service = self.workload.service(postgresql, int(self.config["port"]),
                                        int(self.config["workers"]))
        tasks = self.workload.tasks(postgresql)
        try:
            tasks.migrate()
            if self.workload.write(service):
                self.workload.restart()
            if self.unit.is_leader():
                self._share_rack_secret(tasks.rack_secret())
                self._serve_consumers(tasks)
                peers = self.model.get_relation(PEERS)
                if peers is not None:
                    peers.data[self.app]["initialised"] = "true"
        finally:
            tasks.close()

    def _share_rack_secret(self, shared: str) -> None:
        """The rack shared secret, in a Juju secret granted to each rack relation."""
        try:
            secret = self.model.get_secret(label=RACK_SECRET_LABEL)
            if secret.get_content(refresh=True).get("secret") != shared:
                secret.set_content({"secret": shared})
        except ops.SecretNotFoundError:
            secret = self.app.add_secret({"secret": shared}, label=RACK_SECRET_LABEL)
        for relation in self.model.relations["rack"]:
            secret.grant(relation)
            relation.data[self.app].update({"api-url": self._api_url(),
                                            "secret-id": secret.id or ""})

    @staticmethod
    def _consumer(relation: ops.Relation) -> str:
        return f"maas-api-{relation.app.name if relation.app else relation.id}"

    def _serve_consumers(self, tasks) -> None:  # type: ignore[no-untyped-def]
        """Each maas-api consumer gets its own user and API key, in a Juju secret."""
        for relation in self.model.relations["maas-api"]:
            if relation.data[self.app].get("secret-id"):
                continue
            key = tasks.api_key(self._consumer(relation), create_user=True,
                                key_name="maas-api relation")
            secret = self.app.add_secret({"api-key": key},
                                         label=f"maas-api-{relation.id}")
            secret.grant(relation)
            relation.data[self.app].update({"api-url": self._api_url(),
                                            "secret-id": secret.id or ""})

    def _consumer_gone(self, event: ops.RelationBrokenEvent) -> None:
        if not self.unit.is_leader() or self._blocked_reason():
            return
        tasks = self.workload.tasks(self._postgresql())
        try:
            tasks.remove_user(self._consumer(event.relation))
        finally:
            tasks.close()
        with contextlib.suppress(ops.SecretNotFoundError):
            self.model.get_secret(label=f"maas-api-{event.relation.id}").remove_all_revisions()

    def _collect_status(self, event: ops.CollectStatusEvent) -> None:
        reason = self._blocked_reason()
        if reason:
            event.add_status(ops.BlockedStatus(reason))
        elif self._database_relation is not None and self._postgresql() is None:
            event.add_status(ops.WaitingStatus("waiting for database"))
        else:
            backend = "PostgreSQL" if self._database_relation is not None else "SQLite"
            event.add_status(ops.ActiveStatus(f"serving {self._api_url()} ({backend})"))

    # Actions: each one task; failures are reported, never a traceback.

    def _run(self, event: ops.ActionEvent, task) -> None:  # type: ignore[no-untyped-def]
        if self._blocked_reason():
            event.fail(self._blocked_reason() or "")
            return
        if self._database_relation is not None and self._postgresql() is None:
            event.fail("The database relation has no credentials yet; try again shortly.")
            return
        tasks = self.workload.tasks(self._postgresql())
        try:
            event.set_results(task(tasks))
        except TaskError as error:
            event.fail(str(error))
        finally:
            tasks.close()

    def _on_create_admin(self, event: ops.ActionEvent) -> None:
        p = event.params
        self._run(event, lambda t: (t.create_admin(p["username"], p["password"],
                                                   p.get("email", "")),
                                    {"username": p["username"]})[1])

    def _on_get_api_key(self, event: ops.ActionEvent) -> None:
        self._run(event, lambda t: {"api-key": t.api_key(event.params["username"])})

    def _on_get_api_endpoint(self, event: ops.ActionEvent) -> None:
        event.set_results({"api-url": self._api_url()})

    def _on_add_machine(self, event: ops.ActionEvent) -> None:
        p = event.params
        try:
            parameters = json.loads(p.get("power-parameters") or "{}")
            if not isinstance(parameters, dict):
                raise ValueError("not an object")
        except ValueError as error:
            event.fail(f"power-parameters: not a JSON object ({error}).")
            return

        def add(tasks) -> dict:  # type: ignore[no-untyped-def]
            system_id = tasks.add_machine(p["hostname"], p["mac"], p.get("power-type", "ipmi"),
                                          parameters)
            status = tasks.commission(system_id) if p.get("commission") else "New"
            return {"system-id": system_id, "status": status}

        self._run(event, add)

    def _on_commission_node(self, event: ops.ActionEvent) -> None:
        p = event.params
        self._run(event, lambda t: {"status": t.commission(
            p["system-id"], p.get("testing-scripts", ""), bool(p.get("skip-bmc-config")))})

    def _on_list_machines(self, event: ops.ActionEvent) -> None:
        self._run(event, lambda t: {"machines": json.dumps(
            t.list_machines(event.params.get("status") or None))})

    def _on_build_images(self, event: ops.ActionEvent) -> None:
        os_name = event.params.get("os") or ""
        if os_name:
            self._run(event, lambda t: {"image": json.dumps(t.build_os_image(os_name))})
            return
        self._run(event, lambda t: {"images": json.dumps(
            t.build_images(self.workload.data_dir / "cache"))})


if __name__ == "__main__":  # pragma: no cover
    ops.main(RegionCharm)
