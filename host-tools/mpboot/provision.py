"""The files a device needs on its filesystem to run the boot stage, for `flash-image --files`.

    /boot.py             firmware/boot.py: the fixed loader, runs mpboot_fw.stage before anything else
    /lib/mpboot_fw/*.py  the device package (*.mpy: compiled for the board's .mpy version)
    /mpboot.json         the device's configuration (mpboot_fw.config checks every field)

With the device package as a signed bundle, /lib/mpboot_fw is not written: the package lies in
/bundles/mpboot/a/ (mpboot.bundle.layout), which the fixed loader runs. With any bundle,
/main.py is firmware/main.py, the starter of the application bundle's entry point.

The trust anchor is not among them: `flash-image --root` puts it in the state partition.
"""

import json

from mpboot.errors import MpbootError
from mpboot import boards, bundle, flashimage, mpycross, resources
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


def device_files(board, files=None, mpy=None, package=None, bundles=(), root=None, copies=None, **settings):
    """{"/path": bytes}: boot.py, the package, the configuration (`settings` as device_config
    takes them), then `files` (the application: main.py, a health check module...). `mpy`: a
    mpycross.Version to compile the package for (None: its source). MicroPython runs boot.py
    only as source, so it stays .py.

    package: the device package as a bundle, (what, bytes) of the bundle named mpboot: it goes
    to /bundles/mpboot/ instead of /lib/mpboot_fw/. bundles: application bundles, [(what, bytes)].
    Each is verified against `root` (a trust.Root), the board and `mpy` first and laid out as
    bundle.layouts() does (`copies` as it takes them); with any, /main.py is the starter of
    their entry point. Refused when it all does not fit the board's vfs partition."""
    out = {"/boot.py": resources.boot_py(),
           config.PATH: json.dumps(device_config(board, **settings), sort_keys=True).encode()}
    given = ([package] if package is not None else []) + list(bundles)
    if given:
        out.update(_bundle_files(board, package, bundles, root, mpy, copies))
        out["/main.py"] = resources.main_py()
    if package is None:
        source = {mpycross.COMPILED_DIR + path.name: path.read_bytes()
                  for path in sorted(resources.device_package_dir().glob("*.py"))}
        out.update(mpycross.compile_package(source, mpy) if mpy is not None else source)
    for path, data in (files or {}).items():
        if given and path in out:
            raise MpbootError("%s: your files hold %s, which the device needs for its bundles (%s): leave it out, "
                              "or put your application in a bundle" % (path, path, "the starter of their entry "
                              "point" if path == "/main.py" else "its loader"))
        out[path] = data.encode() if isinstance(data, str) else data
    flashimage.vfs_image(board, out)  # refused here, not half way through copying them to a board
    return out


def _bundle_files(board, package, bundles, root, mpy, copies):
    if root is None:
        raise MpbootError("bundles need --root ROOT.json: the device takes a bundle only when it verifies against "
                          "its root")
    found, out = bundle.layouts(([package] if package is not None else []) + list(bundles), root, board,
                                mpy=None if mpy is None else mpy.major, copies=copies)
    if package is not None and found[0].name != bundle.fmt.DEVICE_PACKAGE:
        raise MpbootError("%s is the bundle %s, not mpboot's device package: make that with `mpboot bundle "
                          "--device-package`, or give it as --bundle" % (package[0], found[0].name))
    for (what, _), b in zip(bundles, found[1:] if package is not None else found):
        if b.name == bundle.fmt.DEVICE_PACKAGE:
            raise MpbootError("%s is mpboot's device package: give it as --package-bundle" % what)
    return out
