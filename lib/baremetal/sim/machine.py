"""Simulated machines: a virtual BMC, and when it powers the machine on, a PXE client that
fetches its iPXE config from the rack over TFTP (a real TFTP client), downloads the kernel
and initrd it names over HTTP, and then runs the image's own program (the `run` script
and what the metadata API serves) with busybox, against a hardware description laid out
as /proc and /sys under $ROOT.

The hardware is described, not faked in the scripts: a faulty disk is a device that cannot
be read, a hung disk is a size file that never answers (a FIFO).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import requests
import tftpy

from .bmc import VirtualBmc

log = logging.getLogger(__name__)
logging.getLogger("tftpy").setLevel(logging.ERROR)  # a line per packet otherwise
BUSYBOX = Path("/bin/busybox")


@dataclass(frozen=True)
class Disk:
    name: str
    size: int  # bytes
    model: str = "SIM DISK"
    serial: str = ""
    rotational: bool = False
    faulty: bool = False  # reads fail
    hangs: bool = False  # asking its size never returns


@dataclass(frozen=True)
class Nic:
    name: str
    mac: str
    speed: int = 10000  # Mbit/s
    driver: str = "ixgbe"


@dataclass(frozen=True)
class Hardware:
    cpus: int = 4
    cpu_model: str = "Intel(R) Xeon(R) Simulated CPU @ 2.40GHz"
    cpu_mhz: int = 2400
    memory_mib: int = 8192
    disks: tuple[Disk, ...] = ()
    nics: tuple[Nic, ...] = ()
    arch: str = "x86_64"
    bmc_user: str = "admin"  # the factory account, used in-band by commissioning
    bmc_password: str = "factory-password"

    @property
    def pxe_mac(self) -> str:
        return self.nics[0].mac


def varied(index: int, *, faulty_disk: bool = False, hangs: bool = False) -> Hardware:
    """A machine of a varied shape, its MACs derived from `index`."""
    def mac(port: int) -> str:
        return f"52:54:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}:{port:02x}"

    disks = [Disk("sda", (120 + 40 * (index % 4)) * 10**9, "SIM SSD", f"SSD{index:05d}",
                  hangs=hangs)]
    if index % 2:
        disks.append(Disk("sdb", 2 * 10**12, "SIM HDD", f"HDD{index:05d}", rotational=True,
                          faulty=faulty_disk))
    elif faulty_disk:
        disks.append(Disk("sdb", 10**12, "SIM HDD", f"HDD{index:05d}", True, faulty=True))
    nics = [Nic("eth0", mac(0), 10000, "ixgbe")]
    if index % 3 == 0:
        nics.append(Nic("eth1", mac(1), 1000, "e1000e"))
    return Hardware(cpus=2 ** (1 + index % 4), memory_mib=4096 * (1 + index % 4),
                    cpu_mhz=2000 + 100 * (index % 5), disks=tuple(disks), nics=tuple(nics))


def write_root(root: Path, hw: Hardware, bmc_address: str) -> None:
    """Lay the hardware out as the files the scripts read."""
    shutil.rmtree(root, ignore_errors=True)
    for directory in ("proc/sys/kernel", "sys/block", "sys/class/net", "sys/bus/pci/drivers",
                      "dev", "tmp", "run", "etc", "root"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "proc/cpuinfo").write_text("".join(
        f"processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: {hw.cpu_model}\n"
        f"cpu MHz\t\t: {hw.cpu_mhz}.000\n\n" for n in range(hw.cpus)))
    (root / "proc/meminfo").write_text(
        f"MemTotal:       {hw.memory_mib * 1024} kB\n"
        f"MemAvailable:   {hw.memory_mib * 1000} kB\n")
    (root / "proc/sys/kernel/arch").write_text(hw.arch + "\n")
    for disk in hw.disks:
        block = root / "sys/block" / disk.name
        (block / "device").mkdir(parents=True)
        (block / "queue").mkdir()
        if disk.hangs:
            os.mkfifo(block / "size")
        else:
            (block / "size").write_text(f"{disk.size // 512}\n")
        (block / "device/model").write_text(disk.model + "\n")
        (block / "device/serial").write_text(disk.serial + "\n")
        (block / "queue/rotational").write_text("1\n" if disk.rotational else "0\n")
        device = root / "dev" / disk.name
        if disk.faulty:
            device.mkdir()  # reading it fails, as a dead disk's reads do
        else:
            with device.open("wb") as handle:
                handle.truncate(32 << 20)  # sparse: the first 32 MiB of the disk
    for nic in hw.nics:
        net = root / "sys/class/net" / nic.name
        (net / "device").mkdir(parents=True)
        driver = root / "sys/bus/pci/drivers" / nic.driver
        driver.mkdir(exist_ok=True)
        (net / "device/driver").symlink_to(driver)
        (net / "address").write_text(nic.mac + "\n")
        (net / "speed").write_text(f"{nic.speed}\n")
    (root / "run/bmc.env").write_text(
        f"address={bmc_address}\nuser={hw.bmc_user}\nsecret={hw.bmc_password}\n")


_PATH_LOCK = threading.Lock()


def busybox_path(directory: Path) -> str:
    """A PATH where the image's tools are busybox's (as in the initramfs), then the host's
    (ipmitool, which a real commissioning image carries too)."""
    with _PATH_LOCK:
        if not (directory / "wget").exists():
            directory.mkdir(parents=True, exist_ok=True)
            applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True,
                                     text=True, check=True).stdout.split()
            for applet in applets:
                link = directory / applet
                if not link.exists():
                    link.symlink_to(BUSYBOX)
    return f"{directory}:/usr/sbin:/usr/bin:/sbin:/bin"


def parse_ipxe(script: str) -> tuple[str | None, str | None, str]:
    """(kernel URL, initrd URL, command line) from an iPXE script; (None, None, "") for a
    local boot."""
    kernel = initrd = None
    cmdline = ""
    for line in script.splitlines():
        words = line.split()
        if words[:1] == ["kernel"] and len(words) >= 2:
            kernel, cmdline = words[1], " ".join(words[2:])
        elif words[:1] == ["initrd"] and len(words) >= 2:
            initrd = words[1]
    return kernel, initrd, cmdline


@dataclass
class SimMachine:
    hardware: Hardware
    rack_host: str
    rack_tftp_port: int
    workdir: Path
    bmc: VirtualBmc = field(init=False)
    last_output: str = ""  # the end of what the image printed on its last boot

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bmc = VirtualBmc(self.hardware.bmc_user, self.hardware.bmc_password, 0,
                              on_power=self._on_power)
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._powered_off = threading.Event()

    @property
    def bmc_address(self) -> str:
        return f"127.0.0.1:{self.bmc.port}"

    def _on_power(self, bmc: VirtualBmc, state: str) -> None:
        if state == "on":
            # An empty disk is not bootable: the firmware falls through to the network.
            self._powered_off.clear()
            threading.Thread(target=self._boot_safely, name=f"sim-{self.hardware.pxe_mac}",
                             daemon=True).start()
        else:
            self._powered_off.set()
            self._kill()

    def _kill(self) -> None:
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    def _boot_safely(self, attempts: int = 20) -> None:
        """Boot; when the network boot fails (no rack yet, no image yet), try again a few
        seconds later while powered on, as PXE firmware does."""
        for _ in range(attempts):
            try:
                self.boot()
                return
            except Exception as error:
                log.warning("%s: network boot failed (%s); retrying",
                            self.hardware.pxe_mac, error)
                self.last_output = f"boot failed: {error}"
            if self.bmc.power != "on" or self._powered_off.wait(3):
                return

    def boot(self) -> None:
        self._kill()
        mac = self.hardware.pxe_mac.replace(":", "-")
        config = io.BytesIO()
        client = tftpy.TftpClient(self.rack_host, self.rack_tftp_port,
                                  options={"blksize": 1432}, flock=False)
        client.download(f"ipxe/mac-{mac}.ipxe", config, timeout=5, retries=3)
        kernel, initrd, cmdline = parse_ipxe(config.getvalue().decode())
        if kernel is None or initrd is None:
            return  # boot the local disk: nothing more to see from here
        with requests.Session() as http:
            for url in (kernel, initrd):
                with http.get(url, stream=True, timeout=30) as response:
                    response.raise_for_status()
                    for _ in response.iter_content(1 << 20):
                        pass
        env = {"PATH": busybox_path(self.workdir.parent / "busybox-bin"), "HOME": "/",
               "ROOT": str(self.workdir / "root"),
               "BAREMETAL_RUN": str(resources.files("baremetal.images") / "initramfs/run")}
        for word in cmdline.split():
            key, _, value = word.partition("=")
            if key.startswith("baremetal.") or key == "BOOTIF":
                env[key.replace(".", "_")] = value
        if self.bmc.power != "on":
            return
        write_root(self.workdir / "root", self.hardware, self.bmc_address)
        with self._lock:
            self._process = subprocess.Popen(
                [str(BUSYBOX), "sh", env["BAREMETAL_RUN"]], env=env, start_new_session=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = self._process.communicate()
        self.last_output = output.decode("utf-8", "replace")[-4000:]
        if self._process.returncode in (-signal.SIGKILL,):
            return  # powered off under it
        if not (self.workdir / "root/tmp/baremetal-stay").exists():
            with self.bmc.lock:
                self.bmc.power = "off"  # the image powers the machine off when done

    def stop(self) -> None:
        self._kill()
        self.bmc.close()
