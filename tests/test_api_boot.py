"""The network objects DHCP is rendered from (ipranges/, reservedips/, VLAN dhcp_on and
racks), boot-resources/, and the `images build` command with Debian's kernel."""

from __future__ import annotations

import gzip
import hashlib
import subprocess

from baremetal.store.racks import register_rack

from .live import BAREMETAL


def _subnet_id(api) -> int:  # type: ignore[no-untyped-def]
    [subnet] = [s for s in api.call("GET", "subnets/", api.admin_key).get_json()
                if s["cidr"] == "10.10.0.0/24"]
    return subnet["id"]


def test_ip_ranges_are_checked_and_listed(api):
    subnet = _subnet_id(api)
    made = api.call("POST", "ipranges/", api.admin_key, data={
        "type": "dynamic", "start_ip": "10.10.0.100", "end_ip": "10.10.0.150",
        "subnet": subnet})
    assert made.status_code == 200, made.text
    for data, message in (
        ({"start_ip": "10.10.0.140", "end_ip": "10.10.0.160"}, "overlaps the range"),
        ({"start_ip": "10.10.1.1", "end_ip": "10.10.1.9"}, "is not in subnet 10.10.0.0/24"),
        ({"start_ip": "10.10.0.90", "end_ip": "10.10.0.80"}, "is after end_ip"),
        ({"start_ip": "10.10.0.0", "end_ip": "10.10.0.5"}, "network or broadcast"),
        ({"start_ip": "ten", "end_ip": "10.10.0.5"}, "Not an IP address"),
        ({"type": "floating", "start_ip": "10.10.0.1", "end_ip": "10.10.0.5"}, "not one of"),
    ):
        refused = api.call("POST", "ipranges/", api.admin_key,
                           data={"type": "dynamic", "subnet": subnet, **data})
        assert refused.status_code == 400 and message in refused.text, (data, refused.text)
    assert api.call("POST", "ipranges/", api.user_key, data={
        "type": "dynamic", "start_ip": "10.10.0.200", "end_ip": "10.10.0.210",
        "subnet": subnet}).status_code == 403
    listed = api.call("GET", "ipranges/", api.user_key).get_json()
    assert [(r["type"], r["start_ip"], r["end_ip"]) for r in listed] == [
        ("dynamic", "10.10.0.100", "10.10.0.150")]
    assert api.call("DELETE", f"ipranges/{listed[0]['id']}/", api.admin_key).status_code == 204
    assert api.call("GET", "ipranges/", api.admin_key).get_json() == []


def test_reserved_ips_are_checked(api):
    subnet = _subnet_id(api)
    made = api.call("POST", "reservedips/", api.admin_key, data={
        "ip": "10.10.0.77", "mac_address": "52:54:00:AB:CD:EF", "subnet": subnet})
    assert made.status_code == 200 and made.get_json()["mac_address"] == "52:54:00:ab:cd:ef"
    again = api.call("POST", "reservedips/", api.admin_key, data={
        "ip": "10.10.0.77", "mac_address": "52:54:00:ab:cd:00", "subnet": subnet})
    assert again.status_code == 400 and "already reserved" in again.text
    bad = api.call("POST", "reservedips/", api.admin_key, data={
        "ip": "10.10.0.78", "mac_address": "not-a-mac", "subnet": subnet})
    assert bad.status_code == 400 and "is not a MAC address" in bad.text


def test_dhcp_on_needs_a_dynamic_range_and_a_known_rack(api):
    subnet = _subnet_id(api)
    vlan = [s for s in api.call("GET", "subnets/", api.admin_key).get_json()
            if s["id"] == subnet][0]["vlan"]["id"]
    refused = api.call("PUT", f"vlans/{vlan}/", api.admin_key, data={"dhcp_on": "true"})
    assert refused.status_code == 400 and "no subnet with a dynamic IP range" in refused.text
    unknown = api.call("PUT", f"vlans/{vlan}/", api.admin_key, data={"primary_rack": "nope"})
    assert unknown.status_code == 400 and "no rack controller" in unknown.text
    with api.store.write() as conn:
        rack = register_rack(conn, name="r1", hostname="r1", version="t", interfaces=[],
                             subnets=["10.10.0.0/24"])
    api.call("POST", "ipranges/", api.admin_key, data={
        "type": "dynamic", "start_ip": "10.10.0.100", "end_ip": "10.10.0.150",
        "subnet": subnet})
    done = api.call("PUT", f"vlans/{vlan}/", api.admin_key,
                    data={"dhcp_on": "true", "primary_rack": rack})
    assert done.status_code == 200, done.text
    assert done.get_json()["dhcp_on"] is True and done.get_json()["primary_rack"] == rack
    assert api.call("PUT", f"vlans/{vlan}/", api.user_key,
                    data={"dhcp_on": "false"}).status_code == 403


def test_images_build_makes_a_bootable_image_from_debian_packages(tmp_path):
    """The real thing: Debian's kernel and a busybox initramfs with our scripts and the
    NIC drivers (with their dependencies), stored with checksums and listed."""
    url = f"sqlite:///{tmp_path / 'region.db'}"
    done = subprocess.run([str(BAREMETAL), "images", "build", "--database-url", url,
                           "--data-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "amd64/generic ephemeral vmlinuz" in done.stdout
    from baremetal.images.files import ImageFiles
    from baremetal.store import Store
    from baremetal.store.images import list_resources

    store = Store(url)
    with store.read() as conn:
        [resource] = list_resources(conn)
    store.dispose()
    assert (resource["name"], resource["rtype"]) == ("ephemeral", "Generated")
    files = resource["sets"][0]["files"]
    assert {f["filetype"] for f in files.values()} == {"boot-kernel", "boot-initrd"}
    # The bytes are on disk beside the database, named by their sha256; not in rows.
    library = ImageFiles(tmp_path / "images")
    kernel = library.path(files["vmlinuz"]["sha256"]).read_bytes()
    initrd = library.path(files["initrd"]["sha256"]).read_bytes()
    assert hashlib.sha256(kernel).hexdigest() == files["vmlinuz"]["sha256"]
    assert kernel[0x202:0x206] == b"HdrS"  # a bzImage
    listing = subprocess.run(["cpio", "-t"], input=gzip.decompress(initrd),
                             capture_output=True, timeout=60).stdout.decode().split()
    for wanted in ("init", "bin/busybox", "baremetal/run", "baremetal/network-up",
                   "dev/console", "lib/modules/e1000.ko", "lib/modules/virtio_net.ko",
                   "lib/modules/failover.ko", "lib/modules/order"):
        assert wanted in listing, wanted
