"""fabrics/, vlans, subnets/, spaces/, domains/, static-routes/, boot-resources/ and
rackcontrollers/: what Juju reads to understand the network and the region."""

from __future__ import annotations

import ipaddress

from sqlalchemy.exc import IntegrityError

from baremetal.store import utcnow
from baremetal.store.catalog import (
    list_domains,
    list_fabrics,
    list_spaces,
    list_subnets,
    list_vlans,
)
from baremetal.store.racks import list_racks
from baremetal.store.references import create_subnet, network_index

from ..errors import BadRequest, NotFound
from ..registry import API_ROOT, registry
from ..render import Renderer, domain_json

fabrics = registry.resource("FabricsHandler", "/fabrics/", "Manage fabrics.")
fabric_vlans = registry.resource("VlansHandler", "/fabrics/{fabric_id}/vlans/",
                                 "The VLANs of a fabric.")
vlan = registry.resource("VlanHandler", "/vlans/{vlan_id}/", "One VLAN.")
subnets = registry.resource("SubnetsHandler", "/subnets/", "Manage subnets.")
subnet = registry.resource("SubnetHandler", "/subnets/{subnet_id}/", "One subnet.")
spaces = registry.resource("SpacesHandler", "/spaces/", "Manage spaces.")
domains = registry.resource("DomainsHandler", "/domains/", "Manage DNS domains.")
static_routes = registry.resource("StaticRoutesHandler", "/static-routes/",
                                  "Static routes between subnets.")
boot_resources = registry.resource("BootResourcesHandler", "/boot-resources/",
                                   "The boot images the region holds.")
rack_controllers = registry.resource("RackControllersHandler", "/rackcontrollers/",
                                     "The rack controllers registered with this region.")


def _fabric_json(renderer: Renderer, fabric_id: int, name: str, class_type, vlans) -> dict:  # type: ignore[no-untyped-def]
    return {"id": fabric_id, "name": name, "class_type": class_type,
            "resource_uri": f"{API_ROOT}/fabrics/{fabric_id}/",
            "vlans": [renderer.vlan(v) for v in vlans]}


@fabrics.action("GET")
def read_fabrics(call):  # type: ignore[no-untyped-def]
    """All fabrics with their VLANs."""
    renderer = Renderer()
    with call.store.read() as conn:
        return [_fabric_json(renderer, *row) for row in list_fabrics(conn)]


def _int(field: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise NotFound(f"No {field} matches the given query.") from None


@fabric_vlans.action("GET")
def read_fabric_vlans(call, fabric_id):  # type: ignore[no-untyped-def]
    """The VLANs of one fabric."""
    wanted = _int("Fabric", fabric_id)
    renderer = Renderer()
    with call.store.read() as conn:
        for found_id, _, _, vlans in list_fabrics(conn):
            if found_id == wanted:
                return [renderer.vlan(v) for v in vlans]
    raise NotFound("No Fabric matches the given query.")


@vlan.action("GET")
def read_vlan(call, vlan_id):  # type: ignore[no-untyped-def]
    """One VLAN."""
    wanted = _int("VLAN", vlan_id)
    with call.store.read() as conn:
        for found in list_vlans(conn):
            if found.id == wanted:
                return Renderer().vlan(found)
    raise NotFound("No VLAN matches the given query.")


@subnets.action("GET")
def read_subnets(call):  # type: ignore[no-untyped-def]
    """All subnets."""
    renderer = Renderer()
    with call.store.read() as conn:
        return [renderer.subnet(s) for s in list_subnets(conn)]


@subnets.action("POST", admin=True)
def create_subnet_action(call):  # type: ignore[no-untyped-def]
    """Create a subnet: cidr, name, vlan (id; default: the untagged VLAN of fabric-0),
    space, gateway_ip."""
    p = call.params
    try:
        cidr = str(ipaddress.ip_network(p.required("cidr"), strict=False))
    except ValueError:
        raise BadRequest(f"cidr: '{p.get('cidr')}' is not a network address.") from None
    gateway = p.get("gateway_ip") or None
    if gateway is not None:
        try:
            if ipaddress.ip_address(gateway) not in ipaddress.ip_network(cidr):
                raise BadRequest(f"gateway_ip: {gateway} is not in {cidr}.")
        except ValueError:
            raise BadRequest(f"gateway_ip: '{gateway}' is not an IP address.") from None
    try:
        with call.store.write() as conn:
            vlans, _ = network_index(conn)
            vlan_id = p.integer("vlan") if p.get("vlan") else min(vlans)
            if vlan_id not in vlans:
                raise BadRequest(f"vlan: no VLAN with id {vlan_id}.")
            subnet_id = create_subnet(conn, cidr, vlan_id, name=p.get("name") or None,
                                      space=p.get("space") or None, gateway_ip=gateway)
            return Renderer().subnet(network_index(conn)[1][subnet_id])
    except IntegrityError:
        raise BadRequest(f"cidr: a subnet {cidr} already exists.") from None


@subnet.action("GET")
def read_subnet(call, subnet_id):  # type: ignore[no-untyped-def]
    """One subnet."""
    wanted = _int("Subnet", subnet_id)
    with call.store.read() as conn:
        found = network_index(conn)[1].get(wanted)
    if found is None:
        raise NotFound("No Subnet matches the given query.")
    return Renderer().subnet(found)


@spaces.action("GET")
def read_spaces(call):  # type: ignore[no-untyped-def]
    """All spaces with their subnets and VLANs."""
    renderer = Renderer()
    with call.store.read() as conn:
        all_subnets = list_subnets(conn)
        result = []
        for space in list_spaces(conn):
            members = [s for s in all_subnets if s.space == space.name]
            vlans = {s.vlan.id: s.vlan for s in members}
            result.append({
                "id": space.id, "name": space.name, "description": space.description,
                "resource_uri": f"{API_ROOT}/spaces/{space.id}/",
                "subnets": [renderer.subnet(s) for s in members],
                "vlans": [renderer.vlan(v) for v in vlans.values()],
            })
    return result


@domains.action("GET")
def read_domains(call):  # type: ignore[no-untyped-def]
    """All DNS domains."""
    with call.store.read() as conn:
        return [domain_json(domain, count) for domain, count in list_domains(conn)]


@static_routes.action("GET")
def read_static_routes(call):  # type: ignore[no-untyped-def]
    """Static routes; this region defines none."""
    return []


@boot_resources.action("GET")
def read_boot_resources(call):  # type: ignore[no-untyped-def]
    """Boot images held by the region (none until images are built)."""
    return []


@rack_controllers.action("GET")
def read_rack_controllers(call):  # type: ignore[no-untyped-def]
    """The registered rack controllers, with their last heartbeat and whether they are up
    (a rack that misses three heartbeats is down)."""
    now = utcnow()
    with call.store.read() as conn:
        racks = list_racks(conn)
    return [{
        "system_id": rack.system_id, "hostname": rack.hostname, "name": rack.name,
        "fqdn": rack.hostname, "node_type": 2, "node_type_name": "Rack controller",
        "version": rack.version, "subnets": rack.subnets,
        "interface_set": [{"name": i.get("name"), "mac_address": i.get("mac_address"),
                           "addresses": i.get("addresses", [])} for i in rack.interfaces],
        "last_heartbeat": rack.last_heartbeat.isoformat(timespec="seconds") + "Z",
        "status": "up" if rack.is_up(now) else "down",
        "resource_uri": f"{API_ROOT}/rackcontrollers/{rack.system_id}/",
    } for rack in racks]
