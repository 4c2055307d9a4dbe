"""Bundles at boot on the emulated board (real MicroPython, LittleFS in the power-cut model on
the unix port): a device provisioned with the fixed loader (/boot.py), the starter (/main.py),
the application as the bundle "app" and the device package in /lib or as the bundle "mpboot",
laid out as provisioning writes them (copy a, its kept manifest, the pointer "a"); installs at
the REPL through bundlestore.install, fed over the emulated serial link.

The application bundle: app.py (entry app:main) prints "APP <version>"; apphealth.check is the
configured health hook, and what it returns is the bundle's own HEALTH: "ok" True, "fail"
False, "raise" raises, "hang" never returns (the watchdog resets the board). A version whose IMPORT is "raise" raises when app is imported.
"""

import hashlib
import json

from bootstage import BOARD, HEALTH_MS, RELEASE, ROOT, TRUSTED, board, signed, state, state_dev
from emuboard import new_flash
from mpboot import bundle as hostbundle, mpycross, provision, resources
from mpboot.manualinstall import SERVICE, SerialLink
from mpboot_fw import bundle, statelog
from mpboot_fw.config import PATH as CONFIG

IMAGE = signed("1.0.0", 1)
PACKAGE_DIR = "/lib/mpboot_fw/"
APP = """import version
if version.IMPORT == "raise":
    raise ImportError("app: a module it needs is missing")


def main():
    print("APP", version.VERSION)
"""
HEALTH = """import time
import version


def check():
    if version.HEALTH == "raise":
        raise ValueError("sensor missing")
    while version.HEALTH == "hang":
        time.sleep_ms(100)
    return version.HEALTH == "ok"
"""
INSTALL = """
from _emu import call
from mpboot_fw import bundle, bundlestore


class _Serial:
    def readinto(self, buf):
        return call("serial.read", None, buf, 0)


try:
    b = bundlestore.install(_Serial())
    print("INSTALLED", b.name, b.version)
except bundle.BundleError as e:
    print("REFUSED", e.reason)
"""
_BUILT = {}


def app_bundle(version, security_version=1, health="ok", imports="ok", mpy=None, min_firmware=None, extra=None):
    """Bundle bytes of the application at `version`."""
    key = (version, security_version, health, imports, mpy, min_firmware, tuple(sorted((extra or {}).items())))
    if key not in _BUILT:
        files = {"app.py": APP.encode(), "apphealth.py": HEALTH.encode(),
                 "version.py": ("VERSION = %r\nHEALTH = %r\nIMPORT = %r\n" % (version, health, imports)).encode()}
        files.update(extra or {})
        _BUILT[key] = hostbundle.build(files, [RELEASE], TRUSTED, name="app", version=version,
                                       security_version=security_version, board=BOARD.name, chip_id=BOARD.chip_id,
                                       mpy=mpy, min_firmware=min_firmware, entry="app:main")[0]
    return _BUILT[key]


def tool_bundle():
    """Bundle bytes of a second application, "tool" (entry tool:main prints "TOOL")."""
    if "tool" not in _BUILT:
        files = {"tool.py": b'def main():\n    print("TOOL")\n'}
        _BUILT["tool"] = hostbundle.build(files, [RELEASE], TRUSTED, name="tool", version="1.0.0", security_version=1,
                                          board=BOARD.name, chip_id=BOARD.chip_id, entry="tool:main")[0]
    return _BUILT["tool"]


def package_files(changes=None):
    """{"mpboot_fw/NAME.mpy": bytes} of the device package compiled for the emulated board's
    MicroPython, as the bundle "mpboot" holds it (as source, two copies do not fit the vfs);
    `changes`: {path: bytes, or None to leave the file out} over it."""
    package = resources.device_package_dir()
    files = {}
    for p in sorted(package.glob("*.py")):
        data = p.read_bytes()
        key = ("mpy", p.name, hashlib.sha256(data).digest())
        if key not in _BUILT:
            _BUILT[key] = mpycross.compile_source(data, "mpboot_fw/" + p.name, mpycross.DEFAULT)
        files["mpboot_fw/" + p.name[:-3] + ".mpy"] = _BUILT[key]
    for path, data in (changes or {}).items():
        if data is None:
            del files[path]
        else:
            files[path] = data
    return files


def package_bundle(version, security_version=1, changes=None):
    """Bundle bytes of the device package as the bundle "mpboot" (no entry: the loader starts it)."""
    key = ("mpboot", version, security_version, tuple(sorted((changes or {}).items())))
    if key not in _BUILT:
        _BUILT[key] = hostbundle.build(package_files(changes), [RELEASE], TRUSTED, name=bundle.DEVICE_PACKAGE,
                                       version=version, security_version=security_version, board=BOARD.name,
                                       chip_id=BOARD.chip_id, mpy=mpycross.DEFAULT.major, entry=None)[0]
    return _BUILT[key]


def layout(data, copy="a"):
    """{path: bytes} of bundle bytes `data` installed and confirmed in `copy`, as provisioning
    writes it (mpboot.bundle.layout): the copy's files, its kept manifest, the pointer."""
    return hostbundle.layout(data, TRUSTED, BOARD, copy=copy)[1]


def provisioned(app=None, package=None, health=True, policy=None, files=None, floors=None, config=None, bundles=()):
    """A NorFlash with the v1 image in ota_0, the state holding ROOT (floor 1, `floors`:
    {bundle name: floor}), and the vfs: /boot.py (the fixed loader), /main.py (the starter),
    the configuration, the device package in /lib (package None) or as bundle bytes `package`,
    bundle bytes `app` (None: the application v1.0.0) and `bundles` (more bundle bytes);
    `config`: fields over the configuration's."""
    device = provision.device_files(BOARD, {}, policy=policy, health="apphealth:check" if health else None,
                                    health_ms=HEALTH_MS if health else None)
    device["/main.py"] = resources.main_py()
    if package is not None:
        device = {p: d for p, d in device.items() if not p.startswith(PACKAGE_DIR)}
        device.update(layout(package))
    device.update(layout(app or app_bundle("1.0.0")))
    for data in bundles:
        device.update(layout(data))
    if config:
        doc = json.loads(device[CONFIG])
        doc.update(config)
        device[CONFIG] = json.dumps(doc, sort_keys=True).encode()
    device.update(files or {})
    flash = new_flash(device, slots={0: IMAGE})
    st = statelog.format_partition(state_dev(flash), ROOT, floor=1)
    for name, floor in (floors or {}).items():
        statelog.load(state_dev(flash)).raise_bundle_floor(name, floor)
    del st
    flash.reset_log()
    return flash


def app_version(record):
    """The version the application printed in this boot, or None when it did not run."""
    for line in record.output:
        if line.startswith("APP "):
            return line.split()[1]
    return None


def bundle_events(flash, since=0):
    """[(code, reason, detail)] of the bundle events logged after boot `since`."""
    return [(c, r, d) for b, c, r, d in state(flash).events() if b > since and c.startswith("bundle-")]


def pointer(flash, name):
    """The text of bundle `name`'s pointer, read from the board's filesystem (None: none)."""
    return read_file(flash, "/bundles/%s/boot" % name)


def read_file(flash, path):
    from mpboot.emulator import vfs

    part = BOARD.partition("vfs")
    fs = vfs.mount(bytearray(flash.read(part.offset, part.size)))
    try:
        with fs.open(path, "rb") as f:
            return f.read().decode()
    except OSError:
        return None
    finally:
        fs.unmount()


def write_file(flash, path, data):
    """Replace (data None: remove) a file in the board's filesystem from outside, as bit rot or
    tampering would, not through the device's writes."""
    from mpboot.emulator import vfs

    part = BOARD.partition("vfs")
    image = bytearray(flash.read(part.offset, part.size))
    fs = vfs.mount(image)
    if data is None:
        fs.remove(path)
    else:
        with fs.open(path, "wb") as f:
            f.write(data)
    fs.unmount()
    flash.load(part.offset, bytes(image))


def install(b, data):
    """Install bundle bytes `data` at the board's REPL (a boot that ends in the REPL); returns
    that boot's record, whose output says INSTALLED or REFUSED."""
    b.services[SERVICE] = SerialLink(data)
    try:
        return b.boot(repl=INSTALL)
    finally:
        del b.services[SERVICE]


def settle(b, max_boots=6):
    """Boot until a boot ends in the REPL (outcome ok or exception); returns the records."""
    records = []
    while True:
        records.append(b.boot())
        if records[-1].outcome in ("ok", "exception") or len(records) >= max_boots:
            return records
