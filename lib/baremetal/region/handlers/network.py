"""fabrics/, vlans, subnets/, spaces/, domains/, static-routes/ and
rackcontrollers/: what Juju reads to understand the network and the region."""

from __future__ import annotations

import ipaddress
import re

from flask import Response
from sqlalchemy.exc import IntegrityError

from baremetal.store import utcnow
from baremetal.store.boot import (
    NetworkError,
    create_ip_range,
    create_reserved_ip,
    delete_ip_range,
    list_ip_ranges,
    list_reserved_ips,
    set_vlan_dhcp,
)
from baremetal.store.catalog import (
    list_domains,
    list_fabrics,
    list_spaces,
    list_subnets,
    list_vlans,
)
from baremetal.store.racks import list_racks
from baremetal.store.references import create_subnet, network_index
from baremetal.store.routes import (
    RouteError,
    create_route,
    delete_route,
    list_routes,
    update_route,
)

from ..errors import BadRequest, NotFound
from ..params import path_id
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
static_route = registry.resource("StaticRouteHandler", "/static-routes/{route_id}/",
                                 "One static route.")
ip_ranges = registry.resource("IPRangesHandler", "/ipranges/",
                              "Address ranges of subnets: dynamic (DHCP) or reserved.")
ip_range = registry.resource("IPRangeHandler", "/ipranges/{range_id}/", "One address range.")
reserved_ips = registry.resource("ReservedIpsHandler", "/reservedips/",
                                 "Host reservations: a MAC that DHCP always gives this IP.")
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


_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@fabric_vlans.action("GET")
def read_fabric_vlans(call, fabric_id):  # type: ignore[no-untyped-def]
    """The VLANs of one fabric."""
    wanted = path_id(fabric_id, "Fabric")
    renderer = Renderer()
    with call.store.read() as conn:
        for found_id, _, _, vlans in list_fabrics(conn):
            if found_id == wanted:
                return [renderer.vlan(v) for v in vlans]
    raise NotFound("No Fabric matches the given query.")


@vlan.action("GET")
def read_vlan(call, vlan_id):  # type: ignore[no-untyped-def]
    """One VLAN."""
    wanted = path_id(vlan_id, "VLAN")
    with call.store.read() as conn:
        for found in list_vlans(conn):
            if found.id == wanted:
                return Renderer().vlan(found)
    raise NotFound("No VLAN matches the given query.")


@vlan.action("PUT", admin=True)
def update_vlan(call, vlan_id):  # type: ignore[no-untyped-def]
    """Update a VLAN: name, mtu, dhcp_on, primary_rack, secondary_rack (rack system ids).
    DHCP needs a dynamic range on one of the VLAN's subnets."""
    wanted = path_id(vlan_id, "VLAN")
    p = call.params
    values: dict = {}
    if "name" in p:
        values["name"] = p.get("name") or None
    if "mtu" in p:
        values["mtu"] = p.integer("mtu", minimum=552)
    if "dhcp_on" in p:
        values["dhcp_on"] = p.boolean("dhcp_on")
    with call.store.write() as conn:
        vlans, subnets = network_index(conn)
        if wanted not in vlans:
            raise NotFound("No VLAN matches the given query.")
        racks = {rack.system_id for rack in list_racks(conn)}
        for field in ("primary_rack", "secondary_rack"):
            if field in p:
                chosen = p.get(field) or None
                if chosen is not None and chosen not in racks:
                    raise BadRequest(f"{field}: no rack controller with system id '{chosen}'.")
                values[field] = chosen
        if values.get("dhcp_on"):
            mine = {s.id for s in subnets.values() if s.vlan.id == wanted}
            if not any(r["type"] == "dynamic" and r["subnet_id"] in mine
                       for r in list_ip_ranges(conn)):
                raise BadRequest("dhcp_on: the VLAN has no subnet with a dynamic IP range; "
                                 "create one at ipranges/ first.")
        if values:
            set_vlan_dhcp(conn, wanted, **values)
        return Renderer().vlan(network_index(conn)[0][wanted])


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
    wanted = path_id(subnet_id, "Subnet")
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


def _route_json(renderer: Renderer, row, subnets) -> dict:  # type: ignore[no-untyped-def]
    return {"id": row.id, "source": renderer.subnet(subnets[row.source_id]),
            "destination": renderer.subnet(subnets[row.destination_id]),
            "gateway_ip": row.gateway_ip, "metric": row.metric,
            "resource_uri": f"{API_ROOT}/static-routes/{row.id}/"}


def _routes(call, change=None):  # type: ignore[no-untyped-def]
    """Run `change(conn)` (if any) and answer the routes, or the one it names."""
    try:
        with (call.store.write() if change else call.store.read()) as conn:
            wanted = change(conn) if change else None
            _, subnets = network_index(conn)
            renderer = Renderer()
            found = [_route_json(renderer, row, subnets) for row in list_routes(conn)]
    except RouteError as error:
        raise BadRequest(str(error)) from None
    if wanted is None:
        return found
    [one] = [r for r in found if r["id"] == wanted]
    return one


@static_routes.action("GET")
def read_static_routes(call):  # type: ignore[no-untyped-def]
    """Routes between subnets: source, destination, gateway_ip, metric."""
    return _routes(call)


@static_routes.action("POST", admin=True)
def create_static_route(call):  # type: ignore[no-untyped-def]
    """A route: source and destination (subnet id, CIDR or name), gateway_ip (on the
    source subnet), metric."""
    p = call.params
    return _routes(call, lambda conn: create_route(
        conn, p.get("source"), p.get("destination"), p.required("gateway_ip"),
        p.integer("metric", 0, minimum=0) or 0)["id"])


@static_route.action("GET")
def read_static_route(call, route_id):  # type: ignore[no-untyped-def]
    """One route."""
    found = [r for r in _routes(call) if str(r["id"]) == route_id]
    if not found:
        raise NotFound("No StaticRoute matches the given query.")
    return found[0]


@static_route.action("PUT", admin=True)
def update_static_route(call, route_id):  # type: ignore[no-untyped-def]
    """Change source, destination, gateway_ip or metric."""
    p = call.params
    number = path_id(route_id, "StaticRoute")

    def change(conn):  # type: ignore[no-untyped-def]
        if not update_route(conn, number, source=p.get("source"),
                            destination=p.get("destination"), gateway_ip=p.get("gateway_ip"),
                            metric=p.integer("metric", None, minimum=0)):
            raise NotFound("No StaticRoute matches the given query.")
        return number
    return _routes(call, change)


@static_route.action("DELETE", admin=True)
def delete_static_route(call, route_id):  # type: ignore[no-untyped-def]
    """Delete the route."""
    with call.store.write() as conn:
        if not delete_route(conn, path_id(route_id, "StaticRoute")):
            raise NotFound("No StaticRoute matches the given query.")
    return Response(status=204)


def _network_error(call, create):  # type: ignore[no-untyped-def]
    try:
        with call.store.write() as conn:
            return create(conn)
    except NetworkError as error:
        raise BadRequest(str(error)) from None


@ip_ranges.action("GET")
def read_ip_ranges(call):  # type: ignore[no-untyped-def]
    """All address ranges."""
    with call.store.read() as conn:
        return list_ip_ranges(conn)


@ip_ranges.action("POST", admin=True)
def create_ip_range_action(call):  # type: ignore[no-untyped-def]
    """Create a range: type (dynamic or reserved), start_ip, end_ip, subnet (id), comment."""
    p = call.params
    subnet_id = p.integer("subnet", minimum=0) if p.required("subnet") else 0
    return _network_error(call, lambda conn: create_ip_range(
        conn, subnet_id, p.required("type"), p.required("start_ip"), p.required("end_ip"),
        p.get("comment") or ""))


@ip_range.action("DELETE", admin=True)
def delete_ip_range_action(call, range_id):  # type: ignore[no-untyped-def]
    """Delete a range."""
    with call.store.write() as conn:
        if not delete_ip_range(conn, path_id(range_id, "IPRange")):
            raise NotFound("No IPRange matches the given query.")
    return Response(status=204)


@reserved_ips.action("GET")
def read_reserved_ips(call):  # type: ignore[no-untyped-def]
    """All host reservations."""
    with call.store.read() as conn:
        return list_reserved_ips(conn)


@reserved_ips.action("POST", admin=True)
def create_reserved_ip_action(call):  # type: ignore[no-untyped-def]
    """Reserve an address: ip, subnet (id), mac_address, comment."""
    p = call.params
    subnet_id = p.integer("subnet", minimum=0) if p.required("subnet") else 0
    mac = (p.get("mac_address") or "").lower() or None
    if mac is not None and not _MAC.match(mac):
        raise BadRequest(f"mac_address: '{mac}' is not a MAC address.")
    return _network_error(call, lambda conn: create_reserved_ip(
        conn, subnet_id, p.required("ip"), mac, p.get("comment") or ""))


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
