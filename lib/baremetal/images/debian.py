"""`baremetal images build --os debian/bookworm`: a deployable Debian image from Debian's
packages alone, with debootstrap and the machine's own apt mirror.

Why debootstrap rather than diskimage-builder: DIB's `debian` element downloads a cloud
image from cdimage.debian.org (not reachable from a data centre without internet) and its
`debian-minimal` element runs debootstrap anyway, under a layer of bash elements and a
chroot of its own; debootstrap driven directly is one Debian package, reads the same mirror
apt does, and its steps are ours to report.

The output is what MAAS serves for an OS, per file type: `squashfs` (zstd), `boot-kernel`
and `boot-initrd`. The initrd carries live-boot, so it can boot the squashfs from HTTP with
an overlay in RAM (`boot=live fetch=URL`): one root filesystem is both the ephemeral
environment and the OS that is installed.

A build is cached by its inputs (release, architecture, packages, mirror, this recipe's
version) under the image cache; the same inputs again cost a few file reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .files import LocalFile

RECIPE_VERSION = "1"
RELEASES = {"bookworm": "12"}
ARCHES = {"amd64"}
PACKAGES = (
    # boot and the ephemeral environment
    "linux-image-amd64", "initramfs-tools", "live-boot", "busybox", "systemd-sysv", "udev",
    "ifupdown", "isc-dhcp-client", "iproute2", "kmod",
    # cloud-init with the MAAS datasource, SSH, what Juju's cloud-config uses
    "cloud-init", "python3-oauthlib", "python3-cffi-backend", "openssh-server", "sudo",
    "curl", "wget", "ca-certificates",
    # the installer's bootloaders (BIOS and UEFI) and disk tools
    "grub-pc-bin", "grub-efi-amd64-bin", "grub2-common", "e2fsprogs", "dosfstools", "gdisk",
    "fdisk", "parted", "lvm2", "squashfs-tools",
    # commissioning and testing
    "lshw", "pciutils", "dmidecode", "ethtool", "smartmontools", "ipmitool", "stress-ng",
    "fio", "util-linux",
)
# cloud-init's settings in the image (for the ephemeral environment and the installed OS).
CLOUD_CFG = """\
# baremetal: the region's metadata API is the datasource (its URL and this machine's
# credentials come from the preseed named on the kernel command line, or from the installer)
datasource_list: [MAAS, None]
manage_etc_hosts: true
ssh_genkeytypes: [ed25519]
locale: false
"""
# Units that only slow a server's boot down (and a TCG VM's very much).
MASKED = ("e2scrub_reap.service", "apt-daily.timer", "apt-daily-upgrade.timer",
          "getty@tty1.service")
STEPS = ("bootstrap", "packages", "configure", "initramfs", "squashfs", "files")


class BuildError(RuntimeError):
    """A step failed; the message names it and ends with what it printed."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"step '{step}' failed: {message}")
        self.step = step


@dataclass(frozen=True)
class BuildInputs:
    release: str = "bookworm"
    arch: str = "amd64"
    mirror: str = ""
    packages: tuple[str, ...] = PACKAGES

    @property
    def name(self) -> str:
        return f"debian/{self.release}"

    @property
    def key(self) -> str:
        text = json.dumps({"release": self.release, "arch": self.arch, "mirror": self.mirror,
                           "packages": sorted(self.packages), "recipe": RECIPE_VERSION},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class BuiltImage:
    name: str  # debian/bookworm
    architecture: str  # amd64/generic
    version: str  # e.g. 20261202-6.1.0-50
    kernel_version: str
    files: tuple[LocalFile, ...]
    cached: bool


Progress = Callable[[str, str, int], None]  # step, what, bytes so far


def parse_os(text: str) -> str:
    """`debian/bookworm` or `bookworm` → the release; anything else is refused by name."""
    osname, _, release = text.rpartition("/")
    if osname not in ("", "debian") or release not in RELEASES:
        raise ValueError(f"can only build debian/{', debian/'.join(RELEASES)} "
                         f"(not '{text}')")
    return release


def apt_mirror(sources: Path = Path("/etc/apt/sources.list.d/debian.sources"),
               legacy: Path = Path("/etc/apt/sources.list")) -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line format)."""
    if sources.is_file():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if "security" not in uri:
                        return uri
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and "security" not in words[1]:
                return words[1] if not words[1].startswith("[") else words[2]
    return "http://deb.debian.org/debian"


def default_cache() -> Path:
    return Path(os.environ.get("BAREMETAL_IMAGE_CACHE", "/var/cache/baremetal/images"))


def _tree_bytes(path: Path) -> int:
    try:
        done = subprocess.run(["du", "-sbx", str(path)], capture_output=True, text=True,
                              timeout=30)
        return int(done.stdout.split()[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return 0


class _Steps:
    """Runs each step's commands with their output in a log, reports progress (the bytes
    under a path, every two seconds) and turns a failure into a BuildError."""

    def __init__(self, work: Path, progress: Progress) -> None:
        self.work = work
        self.progress = progress

    def run(self, step: str, command: list[str], measure: Path | None = None,
            env: dict[str, str] | None = None, timeout: float = 1800) -> None:
        log_path = self.work / f"{step}.log"
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(2):
                if measure is not None:
                    self.progress(step, "running", _tree_bytes(measure))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            with log_path.open("ab") as log:
                done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, timeout=timeout,
                                      env={**os.environ, **(env or {})})
        except FileNotFoundError:
            raise BuildError(step, f"{command[0]} is not installed (scripts/setup installs "
                                   "it)") from None
        except subprocess.TimeoutExpired:
            raise BuildError(step, f"{command[0]} took more than {timeout:.0f} s") from None
        finally:
            stop.set()
            watcher.join()
        if done.returncode != 0:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise BuildError(step, f"{' '.join(command[:2])} exited {done.returncode}:\n"
                                   + "\n".join(tail))


class _Chroot:
    """proc, sys and dev mounted in the tree while apt runs in it; always unmounted."""

    def __init__(self, root: Path, debs: Path) -> None:
        self.root = root
        self.mounts = [(["-t", "proc", "proc"], root / "proc"),
                       (["-t", "sysfs", "sysfs"], root / "sys"),
                       (["--bind", "/dev"], root / "dev"),
                       (["--bind", str(debs)], root / "var/cache/apt/archives")]
        self.mounted: list[Path] = []

    def __enter__(self) -> _Chroot:
        for options, target in self.mounts:
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", *options, str(target)], check=True, capture_output=True)
            self.mounted.append(target)
        return self

    def __exit__(self, *exc: object) -> None:
        for target in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
        self.mounted.clear()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _load_cached(directory: Path) -> BuiltImage | None:
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    files = []
    for item in data["files"]:
        path = directory / item["filename"]
        if not path.is_file() or path.stat().st_size != item["size"]:
            return None  # damaged: build again
        files.append(LocalFile(item["filename"], item["filetype"], path, item["sha256"],
                               item["size"]))
    return BuiltImage(data["name"], data["architecture"], data["version"],
                      data["kernel_version"], tuple(files), cached=True)


def _configure(root: Path) -> None:
    """What a server image needs that the packages do not do: no host identity, cloud-init
    settings, quiet units masked, an initramfs that carries every driver."""
    (root / "etc/hostname").write_text("debian\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # made on first boot, one per machine
    (root / "etc/cloud/cloud.cfg.d/90_baremetal.cfg").write_text(CLOUD_CFG)
    for unit in MASKED:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    conf = root / "etc/initramfs-tools/conf.d/baremetal"
    conf.write_text("MODULES=most\nCOMPRESS=gzip\n")
    (root / "usr/sbin/policy-rc.d").unlink(missing_ok=True)


def build(inputs: BuildInputs, cache: Path | None = None,
          progress: Progress | None = None) -> BuiltImage:
    """Build (or find in the cache) the image for `inputs`."""
    cache = cache or default_cache()
    report = progress or (lambda step, what, size: None)
    if not inputs.mirror:
        inputs = replace(inputs, mirror=apt_mirror())
    final = cache / inputs.key
    found = _load_cached(final)
    if found is not None:
        report("files", "cached", sum(f.size for f in found.files))
        return found
    if os.geteuid() != 0:
        raise BuildError("bootstrap", "building an OS image needs root (debootstrap, chroot)")
    if inputs.arch not in ARCHES:
        raise BuildError("bootstrap", f"architecture '{inputs.arch}' is not built here "
                                      f"(one of {', '.join(sorted(ARCHES))})")
    cache.mkdir(parents=True, exist_ok=True)
    work = cache / f"build-{inputs.key}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        image = _build(inputs, cache, work, report)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work / "out", final)
        return _load_cached(final) or image
    finally:
        _cleanup(work)


def _cleanup(work: Path) -> None:
    root = work / "root"
    for sub in ("var/cache/apt/archives", "dev", "sys", "proc"):
        subprocess.run(["umount", "-l", str(root / sub)], capture_output=True)
    mounts = Path("/proc/mounts").read_text().split()
    if any(m.startswith(str(work) + "/") for m in mounts):
        return  # never delete through a mount that is still there (/dev, the deb cache)
    shutil.rmtree(work, ignore_errors=True)


def _build(inputs: BuildInputs, cache: Path, work: Path, report: Progress) -> BuiltImage:
    steps = _Steps(work, report)
    root, out, debs = work / "root", work / "out", cache / "debs"
    out.mkdir()
    debs.mkdir(exist_ok=True)
    mirror = inputs.mirror
    report("bootstrap", f"debootstrap {inputs.release} from {mirror}", 0)
    steps.run("bootstrap", ["debootstrap", "--variant=minbase", f"--arch={inputs.arch}",
                            f"--cache-dir={debs}", inputs.release, str(root), mirror],
              measure=root, timeout=1200)
    (root / "etc/apt/sources.list").write_text(f"deb {mirror} {inputs.release} main\n")
    policy = root / "usr/sbin/policy-rc.d"  # no service starts inside the build
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    apt = ["chroot", str(root), "apt-get", "-q", "-y", "-o", "Dpkg::Use-Pty=0"]
    noninteractive = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}
    with _Chroot(root, debs):
        report("packages", f"{len(inputs.packages)} packages and their dependencies", 0)
        steps.run("packages", [*apt, "update"], env=noninteractive, timeout=600)
        steps.run("packages", [*apt, "install", "--no-install-recommends", *inputs.packages],
                  measure=root, env=noninteractive)
        report("configure", "cloud-init, identity, units", _tree_bytes(root))
        try:
            _configure(root)
        except OSError as error:
            raise BuildError("configure", str(error)) from None
        report("initramfs", "live-boot and every driver (MODULES=most)", 0)
        steps.run("initramfs", ["chroot", str(root), "update-initramfs", "-u", "-k", "all"],
                  env=noninteractive, timeout=900)
    steps.run("configure", ["chroot", str(root), "apt-get", "clean"])
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise BuildError("files", "the tree has no /boot/vmlinuz-*")
    kernel_version = kernels[-1].name.removeprefix("vmlinuz-")
    shutil.copyfile(kernels[-1], out / "boot-kernel")
    shutil.copyfile(root / "boot" / f"initrd.img-{kernel_version}", out / "boot-initrd")
    report("squashfs", "mksquashfs (zstd)", 0)
    squashfs = out / "root.squashfs"
    steps.run("squashfs", ["mksquashfs", str(root), str(squashfs), "-comp", "zstd",
                           "-noappend", "-no-progress", "-wildcards",
                           "-e", "proc/*", "sys/*", "dev/*", "run/*", "tmp/*"],
              measure=squashfs, timeout=1800)
    report("files", "checksums", 0)
    files = []
    for filename, filetype in (("boot-kernel", "boot-kernel"), ("boot-initrd", "boot-initrd"),
                               ("root.squashfs", "squashfs")):
        path = out / filename
        files.append({"filename": filename, "filetype": filetype, "sha256": _sha256(path),
                      "size": path.stat().st_size})
    version = time.strftime("%Y%m%d", time.gmtime()) + "." + inputs.key[:8]
    manifest = {"name": inputs.name, "architecture": f"{inputs.arch}/generic",
                "version": version, "kernel_version": kernel_version, "files": files,
                "inputs": {"release": inputs.release, "arch": inputs.arch, "mirror": mirror,
                           "packages": list(inputs.packages)}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return BuiltImage(inputs.name, f"{inputs.arch}/generic", version, kernel_version,
                      tuple(LocalFile(f["filename"], f["filetype"], out / f["filename"],
                                      f["sha256"], f["size"]) for f in files), cached=False)
