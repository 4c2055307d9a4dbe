"""The files a device needs on its filesystem to run the boot stage, for `flash-image --files`.

    /boot.py             firmware/boot.py: runs mpboot_fw.stage before anything else
    /lib/mpboot_fw/*.py  the device package (*.mpy: compiled for the board's .mpy version)
    /mpboot.json         the device's configuration (mpboot_fw.config checks every field)

The trust anchor is not among them: `flash-image --root` puts it in the state partition.
"""

import json

from mpboot import boards, mpycross, resources
from mpboot.errors import MpbootError
from mpboot.repo.publish import check_channel
from mpboot_fw import config


def device_config(board, policy=None, health=None, health_ms=None, channel=None):
    """The configuration document for a device of `board` (a boards.Board), checked as the
    device checks it."""
    if channel is not None:
        check_channel(channel)
    doc = {"board": board.name, "chip_id": board.chip_id, "state": boards.STATE_PARTITION}
    for key, value in (("policy", policy), ("health", health), ("health_ms", health_ms), ("channel", channel)):
        if value is not None:
            doc[key] = value
    try:
        config.check(doc)
    except config.ConfigError as e:
        raise MpbootError("device configuration: %s" % e) from None
    return doc


def device_files(board, files=None, mpy=None, **settings):
    """{"/path": bytes}: boot.py, the package, the configuration (`settings` as device_config
    takes them), then `files` (the application: main.py, a health check module...). `mpy`: a
    mpycross.Version to compile the package for (None: its source). MicroPython runs boot.py
    only as source, so it stays .py."""
    package = {mpycross.COMPILED_DIR + path.name: path.read_bytes()
               for path in sorted(resources.device_package_dir().glob("*.py"))}
    out = {"/boot.py": resources.boot_py(),
           config.PATH: json.dumps(device_config(board, **settings), sort_keys=True).encode()}
    out.update(mpycross.compile_package(package, mpy) if mpy is not None else package)
    for path, data in (files or {}).items():
        out[path] = data.encode() if isinstance(data, str) else data
    return out
