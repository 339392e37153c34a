#!/usr/bin/env python3
"""Build the QEMU boot-log corpus in this directory.

Boots stock Debian kernels (bookworm 6.1, trixie 6.12, sid newest) under
QEMU with TCG (no KVM) on several machine/CPU shapes, with a tiny busybox
initramfs that dumps the guest's MADT (/sys/firmware/acpi/tables/APIC) and
powers off.  For each boot it writes

    <kernel>-<machine>-<shape>.log       the kernel's serial console, verbatim
                                         (only the initramfs marker line is
                                         removed)
    <kernel>-<machine>-<shape>-APIC.bin  the guest's MADT bytes
    manifest.json                        package versions, QEMU version,
                                         command lines, boot times, sysfs CPU
                                         masks seen by /init

Usage:
    python tests/data/qemu/make_corpus.py --out tests/data/qemu
    python tests/data/qemu/make_corpus.py --out DIR --only sid-q35-smp4 ...

Needs (Debian 12 host):
  * qemu-system-x86      (apt-get install qemu-system-x86)
  * busybox-static       (apt-get install busybox-static; /bin/busybox must be
                          statically linked)
  * dpkg-deb             (part of dpkg, always on Debian)
  * network access to deb.debian.org (Packages.xz indexes and kernel .debs
    from the pool; each .deb is checked against the SHA256 in the index.
    The Release signature is NOT checked - stdlib only.)
  * Python 3.11, standard library only.

Kernels, .debs and the initramfs live in --work (default /tmp/qemu-corpus),
never in the repository.

How the data gets out of the guest: the console is the first serial port
(ttyS0 -> <name>.log).  /init writes one marker line to the console and sends
the MADT as base64 between ===APIC-BEGIN=== / ===APIC-END=== to the second
serial port (ttyS1 -> a scratch file), so kernel messages cannot interleave
with the base64 and the console log stays verbatim.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import lzma
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SUITES = {  # short kernel name -> Debian suite
    "bookworm": "bookworm",
    "trixie": "trixie",
    "sid": "sid",
}
META_PACKAGE = "linux-image-amd64"

INIT_MARKER = "===KAPIC-INIT==="
APIC_BEGIN = "===APIC-BEGIN==="
APIC_END = "===APIC-END==="

BASE_APPEND = "console=ttyS0 loglevel=8 panic=-1"


@dataclass
class Boot:
    kernel: str  # key of SUITES
    machine: str  # qemu -machine
    shape: str  # file-name tag
    smp: str  # qemu -smp argument
    extra_append: str = ""
    memory: str = "1G"
    cpu: str | None = None  # qemu -cpu; None = QEMU's default (qemu64, AMD)
    timeout: int = 240

    @property
    def name(self) -> str:
        return f"{self.kernel}-{self.machine}-{self.shape}"


BOOTS: list[Boot] = [
    Boot("bookworm", "pc", "smp4", "4"),
    Boot("bookworm", "q35", "smp4", "4"),
    Boot("bookworm", "q35", "smt8", "8,sockets=1,cores=4,threads=2"),
    Boot("bookworm", "q35", "hotplug2of6", "2,maxcpus=6"),
    Boot("trixie", "pc", "smp4", "4"),
    Boot("trixie", "q35", "smt8", "8,sockets=1,cores=4,threads=2"),
    Boot("trixie", "q35", "hotplug2of6", "2,maxcpus=6"),
    Boot("sid", "pc", "smp4", "4"),
    Boot("sid", "q35", "smp4", "4"),
    Boot("sid", "q35", "smt8", "8,sockets=1,cores=4,threads=2"),
    # qemu64 is AuthenticAMD (QEMU warns it "doesn't support hyperthreading");
    # the same shape with an Intel vendor string takes the CPUID 0xB path.
    Boot("sid", "q35", "smt8-intel", "8,sockets=1,cores=4,threads=2",
         cpu="qemu64,vendor=GenuineIntel"),
    Boot("sid", "q35", "hotplug2of6", "2,maxcpus=6"),
    Boot("sid", "q35", "smp16", "16"),
    Boot("sid", "q35", "smp4-serial", "4", extra_append="cpuhp.parallel=0"),
    # same as sid-q35-smp4, plus the pr_debug()s of smpboot.c (shows whether
    # parallel bring-up was chosen: "Parallel CPU startup enabled")
    Boot("sid", "q35", "smp4-dyndbg", "4",
         extra_append='dyndbg="file arch/x86/kernel/smpboot.c +p"'),
]

INIT_SCRIPT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "{INIT_MARKER} kapic corpus init: dumping MADT to ttyS1, then poweroff"
{{
  echo "possible=$(cat /sys/devices/system/cpu/possible)"
  echo "present=$(cat /sys/devices/system/cpu/present)"
  echo "online=$(cat /sys/devices/system/cpu/online)"
  echo "nproc_cpuinfo=$(grep -c ^processor /proc/cpuinfo)"
  echo "{APIC_BEGIN}"
  base64 /sys/firmware/acpi/tables/APIC
  echo "{APIC_END}"
}} > /dev/ttyS1
sync
poweroff -f
"""


# --------------------------------------------------------------------------
# Debian package fetching
# --------------------------------------------------------------------------

def http_get(url: str, dest: Path) -> Path:
    if dest.exists() and dest.stat().st_size > 0:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    print(f"  GET {url}", flush=True)
    with urllib.request.urlopen(url, timeout=120) as r, open(tmp, "wb") as f:
        shutil.copyfileobj(r, f)
    tmp.rename(dest)
    return dest


def parse_packages(text: str, wanted: set[str]) -> dict[str, dict[str, str]]:
    """Return stanzas (highest Version wins is not needed: one per suite)."""
    out: dict[str, dict[str, str]] = {}
    for stanza in text.split("\n\n"):
        m = re.match(r"Package: (\S+)", stanza)
        if not m or m.group(1) not in wanted:
            continue
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, _, val = line.partition(":")
                fields[key] = val.strip()
        out[m.group(1)] = fields
    return out


def packages_index(suite: str, work: Path) -> str:
    url = f"{MIRROR}/dists/{suite}/main/binary-amd64/Packages.xz"
    path = http_get(url, work / "dists" / suite / "Packages.xz")
    return lzma.decompress(path.read_bytes()).decode("utf-8", "replace")


def fetch_kernel(kernel: str, work: Path) -> dict[str, str]:
    """Download the suite's linux-image-amd64 target, return info + vmlinuz path."""
    suite = SUITES[kernel]
    text = packages_index(suite, work)
    meta = parse_packages(text, {META_PACKAGE})[META_PACKAGE]
    # Depends: [linux-base-amd64 (= V),] linux-image-6.1.0-37-amd64 (= V)
    deps = [d.split("|")[0].split()[0] for d in meta["Depends"].split(",")]
    dep_name = next(d for d in deps if d.startswith("linux-image-"))
    pkg = parse_packages(text, {dep_name})[dep_name]
    # Newer (7.x) packaging splits the image: linux-image-V-amd64 is then a
    # small package and boot/vmlinuz-V lives in linux-binary-V-amd64.
    binary = [d.split("|")[0].split()[0] for d in pkg.get("Depends", "").split(",")
              if d.strip().startswith("linux-binary-")]
    if binary:
        dep_name = binary[0]
        pkg = parse_packages(text, {dep_name})[dep_name]
    deb = work / "debs" / Path(pkg["Filename"]).name
    http_get(f"{MIRROR}/{pkg['Filename']}", deb)
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    if digest != pkg["SHA256"]:
        deb.unlink()
        raise RuntimeError(f"SHA256 mismatch for {deb.name}")
    vmlinuz = work / "kernels" / f"vmlinuz-{kernel}-{pkg['Version']}"
    if not vmlinuz.exists():
        # the image is ./boot/vmlinuz-V (<= 6.x packaging) or
        # ./usr/lib/modules/V/vmlinuz (7.x linux-binary-V packaging);
        # stream the data tarball and take only that member
        vmlinuz.parent.mkdir(parents=True, exist_ok=True)
        # (stderr dropped: dpkg-deb complains of SIGPIPE once we stop reading)
        dd = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        found = None
        with tarfile.open(fileobj=dd.stdout, mode="r|") as tf:
            for member in tf:
                if member.isfile() and re.fullmatch(
                        r"\./boot/vmlinuz-.*|\./usr/lib/modules/[^/]+/vmlinuz",
                        member.name):
                    found = member.name
                    data = tf.extractfile(member)
                    assert data is not None
                    vmlinuz.write_bytes(data.read())
                    break
        if dd.stdout is not None:
            dd.stdout.close()
        dd.wait()
        if not found:
            raise RuntimeError(f"no vmlinuz in {deb.name}")
    return {
        "suite": suite,
        "meta_package": f"{META_PACKAGE} {meta['Version']}",
        "package": dep_name,
        "version": pkg["Version"],
        "deb": pkg["Filename"],
        "sha256": digest,
        "vmlinuz": str(vmlinuz),
    }


# --------------------------------------------------------------------------
# initramfs (cpio newc, written by hand so no root/cpio tool is needed)
# --------------------------------------------------------------------------

def _cpio_entry(buf: io.BytesIO, ino: int, name: str, mode: int, data: bytes = b"",
                rdev: tuple[int, int] = (0, 0)) -> None:
    nameb = name.encode() + b"\0"
    hdr = "070701" + "".join(f"{v:08X}" for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(nameb), 0))
    buf.write(hdr.encode() + nameb)
    buf.write(b"\0" * (-(110 + len(nameb)) % 4))
    buf.write(data)
    buf.write(b"\0" * (-len(data) % 4))


def build_initramfs(work: Path) -> Path:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        sys.exit("need /bin/busybox (apt-get install busybox-static)")
    out = work / "initramfs.cpio.gz"
    buf = io.BytesIO()
    ino = 1
    for d in ("bin", "dev", "proc", "sys", "sbin", "usr", "usr/bin", "usr/sbin"):
        _cpio_entry(buf, ino, d, stat.S_IFDIR | 0o755)
        ino += 1
    for name, major, minor in (("dev/console", 5, 1), ("dev/ttyS0", 4, 64),
                               ("dev/ttyS1", 4, 65), ("dev/null", 1, 3)):
        _cpio_entry(buf, ino, name, stat.S_IFCHR | 0o600, rdev=(major, minor))
        ino += 1
    _cpio_entry(buf, ino, "bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes())
    ino += 1
    _cpio_entry(buf, ino, "init", stat.S_IFREG | 0o755, INIT_SCRIPT.encode())
    ino += 1
    _cpio_entry(buf, ino, "TRAILER!!!", 0)
    out.write_bytes(gzip.compress(buf.getvalue(), 9))
    return out


# --------------------------------------------------------------------------
# booting
# --------------------------------------------------------------------------

def qemu_version() -> str:
    out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()[0]


def qemu_cmd(boot: Boot, vmlinuz: str, initrd: Path, con: Path, aux: Path) -> list[str]:
    append = BASE_APPEND + (" " + boot.extra_append if boot.extra_append else "")
    return [
        "qemu-system-x86_64", "-accel", "tcg", "-machine", boot.machine,
        *(["-cpu", boot.cpu] if boot.cpu else []),
        "-smp", boot.smp, "-m", boot.memory,
        "-kernel", vmlinuz, "-initrd", str(initrd), "-append", append,
        "-display", "none", "-monitor", "none", "-no-reboot",
        "-serial", f"file:{con}", "-serial", f"file:{aux}",
        "-net", "none",
    ]


def run_boot(boot: Boot, kinfo: dict[str, str], initrd: Path, out: Path,
             work: Path) -> dict[str, object]:
    con = work / "serial" / f"{boot.name}.ttyS0"
    aux = work / "serial" / f"{boot.name}.ttyS1"
    con.parent.mkdir(parents=True, exist_ok=True)
    cmd = qemu_cmd(boot, kinfo["vmlinuz"], initrd, con, aux)
    print(f"== {boot.name}: -machine {boot.machine} -smp {boot.smp}", flush=True)
    t0 = time.monotonic()
    try:
        rc = subprocess.run(["timeout", str(boot.timeout), *cmd]).returncode
    except KeyboardInterrupt:
        raise
    secs = time.monotonic() - t0
    raw = con.read_bytes().decode("utf-8", "replace")
    # the console log, verbatim but for /init's marker line
    log = "".join(line for line in raw.splitlines(keepends=True) if INIT_MARKER not in line)
    (out / f"{boot.name}.log").write_text(log)
    auxtext = aux.read_text(errors="replace") if aux.exists() else ""
    sysfs = dict(re.findall(r"^(possible|present|online|nproc_cpuinfo)=(.*?)\r?$",
                            auxtext, re.M))
    m = re.search(re.escape(APIC_BEGIN) + r"\r?\n(.*?)" + re.escape(APIC_END),
                  auxtext, re.S)
    madt_ok = False
    if m:
        madt = base64.b64decode("".join(m.group(1).split()))
        if madt[:4] == b"APIC" and len(madt) == int.from_bytes(madt[4:8], "little"):
            (out / f"{boot.name}-APIC.bin").write_bytes(madt)
            madt_ok = True
    reached_init = INIT_MARKER in raw
    print(f"   rc={rc} {secs:.1f}s init={'yes' if reached_init else 'NO'} "
          f"madt={'yes' if madt_ok else 'NO'} {sysfs}", flush=True)
    return {
        "name": boot.name, "kernel": boot.kernel, "package": kinfo["package"],
        "version": kinfo["version"], "machine": boot.machine, "smp": boot.smp, "cpu": boot.cpu or "(default)",
        "memory": boot.memory, "append": cmd[cmd.index("-append") + 1],
        "qemu_cmdline": " ".join(
            a if " " not in a else repr(a) for a in
            [Path(x).name if x in (kinfo["vmlinuz"], str(initrd)) else x for x in cmd]),
        "exit_code": rc, "seconds": round(secs, 1), "reached_init": reached_init,
        "madt": madt_ok, "sysfs": sysfs,
    }


def last_oops(log: Path) -> str:
    """First Oops/BUG/panic line of a failed boot, for the manifest."""
    for line in log.read_text(errors="replace").splitlines():
        if re.search(r"Oops|BUG:|Kernel panic|WARNING:", line):
            return line.strip()
    return "no /init marker (timeout?)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--work", type=Path, default=Path("/tmp/qemu-corpus"))
    ap.add_argument("--only", nargs="*", help="boot names to run (default: all)")
    ap.add_argument("--retries", type=int, default=2,
                    help="re-run a boot that did not reach /init (TCG flakes)")
    args = ap.parse_args()
    for tool in ("qemu-system-x86_64", "dpkg-deb", "timeout"):
        if not shutil.which(tool):
            sys.exit(f"missing {tool}; see the docstring of {__file__}")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    boots = [b for b in BOOTS if not args.only or b.name in args.only]
    kernels: dict[str, dict[str, str]] = {}
    for k in dict.fromkeys(b.kernel for b in boots):
        try:
            kernels[k] = fetch_kernel(k, args.work)
            print(f"kernel {k}: {kernels[k]['package']} {kernels[k]['version']}")
        except Exception as e:  # keep going with the others
            print(f"kernel {k}: FAILED to fetch: {e}", file=sys.stderr)
    initrd = build_initramfs(args.work)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest["qemu"] = qemu_version()
    manifest.setdefault("kernels", {}).update(
        {k: {x: v[x] for x in ("suite", "meta_package", "package", "version", "deb",
                                "sha256")} for k, v in kernels.items()})
    manifest.setdefault("boots", {})
    for b in boots:
        if b.kernel not in kernels:
            continue
        failures = []
        for _ in range(1 + args.retries):
            res = run_boot(b, kernels[b.kernel], initrd, args.out, args.work)
            if res["reached_init"] and res["madt"]:
                break
            failures.append(f"{res['seconds']}s rc={res['exit_code']}: "
                            + last_oops(args.out / f"{b.name}.log"))
        res["failed_attempts"] = failures
        manifest["boots"][b.name] = res
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
