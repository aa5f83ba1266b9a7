"""`baremetal images build`: the commissioning/ephemeral image, offline from Debian
packages. The kernel comes from `linux-image-amd64` (`apt-get download`, unpacked with
`dpkg-deb`), the initramfs is busybox-static, the NIC and disk drivers a PXE-booted server
or a qemu VM needs (with their dependencies, from `modinfo`), and this package's own
scripts (`initramfs/`): network from the command line or DHCP, then the metadata API."""

from __future__ import annotations

import gzip
import io
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
# Drivers to carry; their dependencies are added (and loaded first).
MODULES = ("e1000", "e1000e", "igb", "ixgbe", "tg3", "bnx2", "virtio_pci", "virtio_net",
           "virtio_blk", "virtio_scsi", "nvme", "ahci", "ata_piix", "sd_mod")
SCRIPTS = ("init", "network-up", "udhcpc.script", "run")


class ImageBuildError(RuntimeError):
    """The image could not be built; the message says which step and why."""


@dataclass(frozen=True)
class Image:
    architecture: str
    name: str
    files: dict[str, bytes]  # vmlinuz, initrd
    kernel_version: str


def _run(command: list[str], **kwargs) -> str:  # type: ignore[no-untyped-def]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                              check=True, **kwargs)
    except FileNotFoundError:
        raise ImageBuildError(f"{command[0]} is not installed (scripts/setup installs "
                              "it)") from None
    except subprocess.CalledProcessError as error:
        raise ImageBuildError(f"{' '.join(command[:3])} failed: "
                              f"{(error.stderr or error.stdout).strip()[-500:]}") from None
    return done.stdout


def kernel_package() -> str:
    """The versioned package linux-image-amd64 stands for (e.g. linux-image-6.1.0-56-amd64)."""
    for line in _run(["apt-cache", "depends", "linux-image-amd64"]).splitlines():
        name = line.strip().removeprefix("Depends: ")
        if name.startswith("linux-image-") and name != "linux-image-amd64":
            return name
    raise ImageBuildError("apt-cache knows no linux-image-amd64 (run apt-get update)")


def fetch_kernel_deb(cache: Path) -> Path:
    """The kernel package, downloaded once into `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    package = kernel_package()
    found = sorted(cache.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    _run(["apt-get", "download", "-q", package], cwd=cache)
    found = sorted(cache.glob(f"{package}_*.deb"))
    if not found:
        raise ImageBuildError(f"apt-get download {package} produced no .deb")
    return found[-1]


def unpack_kernel(deb: Path, into: Path) -> tuple[Path, Path]:
    """vmlinuz and the modules directory, from the package (only the parts needed)."""
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    _run(["tar", "-x", "-C", str(into), "--wildcards", "./boot/vmlinuz-*",
          "./lib/modules/*/kernel/*"], stdin=tar.stdout)
    tar.wait()
    kernels = sorted((into / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise ImageBuildError(f"no vmlinuz in {deb.name}")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    return kernels[-1], into / "lib" / "modules" / version


def resolve_modules(modules_root: Path, wanted: tuple[str, ...] = MODULES) -> list[Path]:
    """The wanted modules that exist, with their dependencies, dependencies first."""
    index = {path.name.split(".ko")[0].replace("-", "_"): path
             for path in modules_root.rglob("*.ko*")}
    ordered: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        name = name.replace("-", "_")
        if name in seen or name not in index:
            return  # built into the kernel, or not carried
        seen.add(name)
        depends = _run(["modinfo", "-F", "depends", str(index[name])]).strip()
        for dependency in filter(None, depends.split(",")):
            visit(dependency)
        ordered.append(index[name])

    for name in wanted:
        visit(name)
    return ordered


class Cpio:
    """A newc cpio archive, as the kernel unpacks an initramfs."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.inode = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0),
               nlink: int = 1) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.inode, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded), 0)
        self.inode += 1
        self.out.write(b"070701" + b"".join(f"{value:08x}".encode() for value in fields))
        self.out.write(encoded + b"\0" * (-(110 + len(encoded)) % 4))
        self.out.write(data + b"\0" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        self._entry(name, 0o040755, nlink=2)

    def file(self, name: str, data: bytes, executable: bool = False) -> None:
        self._entry(name, 0o100755 if executable else 0o100644, data)

    def device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.out.getvalue()


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".xz":
        import lzma

        data = lzma.decompress(data)
    return data


def build_initramfs(modules: list[Path], busybox: Path = BUSYBOX) -> bytes:
    if not busybox.is_file():
        raise ImageBuildError(f"{busybox} is missing (Debian's busybox-static)")
    archive = Cpio()
    for directory in ("bin", "sbin", "dev", "proc", "sys", "tmp", "run", "etc", "root",
                      "usr", "usr/bin", "usr/sbin", "lib", "lib/modules", "baremetal"):
        archive.directory(directory)
    archive.device("dev/console", 5, 1)
    archive.device("dev/null", 1, 3)
    archive.file("bin/busybox", busybox.read_bytes(), executable=True)
    scripts = resources.files("baremetal.images") / "initramfs"
    for name in SCRIPTS:
        data = (scripts / name).read_bytes()
        archive.file("init" if name == "init" else f"baremetal/{name}", data, executable=True)
    names = []
    for path in modules:
        name = path.name.split(".ko")[0]
        archive.file(f"lib/modules/{name}.ko", _module_bytes(path))
        names.append(name)
    archive.file("lib/modules/order", ("\n".join(names) + "\n").encode())
    return gzip.compress(archive.finish(), compresslevel=6, mtime=0)


def build_image(cache: Path) -> Image:
    """The amd64 ephemeral image: the Debian kernel and our initramfs."""
    deb = fetch_kernel_deb(cache)
    with tempfile.TemporaryDirectory(prefix="baremetal-image-") as work:
        vmlinuz, modules_root = unpack_kernel(deb, Path(work))
        modules = resolve_modules(modules_root)
        initrd = build_initramfs(modules)
        kernel = vmlinuz.read_bytes()
        version = modules_root.name
    return Image("amd64/generic", "ephemeral", {"vmlinuz": kernel, "initrd": initrd}, version)
