"""The rack's boot services besides TFTP: the image cache (synced from the region and
checked against its sha256), per-machine configs asked of the region, and the HTTP boot
server on port 5248 (kernels, initrds, bootloaders, the same generated configs, and the
metadata API forwarded to the region)."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from flask import Flask, Response, abort, request, send_file
from werkzeug.serving import make_server
from werkzeug.wsgi import FileWrapper

from .tftp import BootFiles, Loader

if TYPE_CHECKING:
    from .agent import RegionClient

log = logging.getLogger(__name__)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per boot file served
CHUNK = 1 << 20


class ImageCache:
    """Boot images on the rack's disk, at <root>/<arch>/<name>/<filename>. A file is only
    installed once its sha256 matches the region's; a bad download changes nothing."""

    def __init__(self, root: Path, client: RegionClient) -> None:
        self.root = root
        self.client = client
        self.root.mkdir(parents=True, exist_ok=True)
        self._verified: dict[Path, str] = {}

    def path(self, architecture: str, name: str, filename: str) -> Path:
        return self.root / architecture.split("/", 1)[0] / name / filename  # name: os/release

    def checksum(self, path: Path) -> str | None:
        """The sha256 of an installed image file (verified), or None."""
        return self._verified.get(path)

    def _current(self, path: Path) -> str | None:
        if path not in self._verified and path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while block := handle.read(CHUNK):
                    digest.update(block)
            self._verified[path] = digest.hexdigest()
        return self._verified.get(path)

    def sync(self, images: list[dict[str, Any]]) -> list[str]:
        """Fetch what is missing or changed; returns the problems (nothing raised)."""
        problems = []
        for image in images:
            path = self.path(image["architecture"], image["name"], image["filename"])
            if self._current(path) == image["sha256"]:
                continue
            try:
                self._download(image, path)
            except (requests.RequestException, OSError, ValueError) as error:
                problems.append(f"{path.name}: {error}")
                log.error("image %s not installed: %s", path, error)
        return problems

    def _download(self, image: dict[str, Any], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        handle = tempfile.NamedTemporaryFile(dir=path.parent, delete=False)  # noqa: SIM115
        try:
            with handle, self.client.stream(f"/images/{image['id']}") as response:
                for block in response.iter_content(CHUNK):
                    digest.update(block)
                    handle.write(block)
            if digest.hexdigest() != image["sha256"]:
                raise ValueError(f"checksum mismatch (got {digest.hexdigest()[:12]}…, "
                                 f"expected {image['sha256'][:12]}…)")
            os.replace(handle.name, path)
            self._verified[path] = image["sha256"]
            log.info("image %s installed (%d bytes)", path, image["size"])
        finally:
            if os.path.exists(handle.name):
                os.unlink(handle.name)


class RegionConfigs:
    """The TFTP/HTTP ConfigSource: asks the region's boot decision for each request, with
    the rack's own HTTP server (as the client reaches it) as the base of every URL."""

    def __init__(self, client: RegionClient, http_port: int,
                 interfaces: list[dict[str, Any]], advertise: str | None = None) -> None:
        self.client = client
        self.http_port = http_port
        self.interfaces = interfaces
        self.advertise = advertise

    def address_for(self, client: str | None) -> str:
        """The rack's address on the client's network (what the client can reach)."""
        if client:
            try:
                ip = ipaddress.ip_address(client)
            except ValueError:
                ip = None
            if ip is not None:
                for interface in self.interfaces:
                    for address in interface.get("addresses", ()):
                        if ip in ipaddress.ip_interface(address).network:
                            return str(ipaddress.ip_interface(address).ip)
                if ip.is_loopback and not self.advertise:
                    return str(ip)
        return self.advertise or "127.0.0.1"

    def __call__(self, mac: str | None, loader: Loader, client: str | None) -> str | None:
        host = self.address_for(client)
        if ":" in host:
            host = f"[{host}]"
        try:
            answer = self.client.post("/boot-config", {
                "mac": mac, "loader": loader, "http_base": f"http://{host}:{self.http_port}"})
        except (requests.RequestException, RuntimeError) as error:
            log.error("no boot config for %s: %s", mac, error)
            return None
        return answer["config"]


def boot_http_app(files: BootFiles, images: ImageCache, region_url: str | None) -> Flask:
    app = Flask("baremetal.rack.http")
    forward = requests.Session()  # to the region, for every booting machine at once
    forward.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))
    forward.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    @app.get("/images/<arch>/<path:name>/<filename>")
    def image(arch: str, name: str, filename: str) -> Response:
        path = images.path(arch, name, filename)
        checksum = images.checksum(path)  # only verified files are served
        if checksum is None or images.root.resolve() not in path.resolve().parents:
            abort(404)
        # conditional: If-None-Match and Range requests (206) handled by werkzeug.
        return send_file(path, mimetype="application/octet-stream", conditional=True,
                         etag=checksum, max_age=3600)

    @app.route("/MAAS/metadata/", defaults={"rest": ""}, methods=["GET", "POST", "PUT"])
    @app.route("/MAAS/metadata/<path:rest>", methods=["GET", "POST", "PUT"])
    def metadata(rest: str) -> Response:
        """Machines talk to the metadata API through their rack, as in MAAS."""
        if region_url is None:
            abort(404)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "content-type", "accept")}
        headers["X-Forwarded-For"] = request.remote_addr or ""
        headers["X-Forwarded-Host"] = request.host  # the preseed names the rack's address
        try:
            answer = forward.request(
                request.method, f"{region_url.rstrip('/')}/MAAS/metadata/{rest}",
                params=request.args, data=request.get_data(), headers=headers, timeout=60)
        except requests.RequestException as error:
            return Response(f"The region cannot be reached: {error}\n", 502,
                            mimetype="text/plain")
        return Response(answer.content, answer.status_code,
                        content_type=answer.headers.get("Content-Type", "text/plain"))

    @app.get("/<path:name>")
    def boot_file(name: str) -> Response:
        found = files.open(name, request.remote_addr)
        if found is None:
            abort(404)
        with found:
            return Response(found.read(), mimetype="application/octet-stream")

    return app


def _large_blocks(app: Flask):  # type: ignore[no-untyped-def]
    """Files go out in 1 MiB blocks, not werkzeug's default 8 KiB (4x the throughput in
    bench/boot_storm.py)."""
    wsgi = app.wsgi_app

    def wrapped(environ, start_response):  # type: ignore[no-untyped-def]
        environ["wsgi.file_wrapper"] = lambda f, size=CHUNK: FileWrapper(f, CHUNK)
        return wsgi(environ, start_response)

    return wrapped


class BootHttpServer:
    """The HTTP boot server (werkzeug's threaded server) in a thread."""

    def __init__(self, app: Flask, address: str = "0.0.0.0", port: int = 5248) -> None:
        self.server = make_server(address, port, _large_blocks(app), threaded=True)
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, name="boot-http",
                                        daemon=True)

    def start(self) -> BootHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
