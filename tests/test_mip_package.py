"""`mpremote mip install` of the device package: firmware/package.json (micropython-lib's format,
beside the package it describes, away from the repository root's package.json, which is npm's)
lists every module of mpboot_fw, and the real mpremote installs them from it onto the emulated
board's serial console, served over loopback HTTP as GitHub would serve them."""

import functools
import http.server
import json
import threading
from pathlib import Path

import mpboot
from serialboard import SerialBoard
from test_serial_console import make_flash, vfs_files

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"


def expected_package_json():
    modules = sorted(p.name for p in (FIRMWARE / "mpboot_fw").glob("*.py"))
    pairs = ",\n".join('    ["mpboot_fw/%s", "mpboot_fw/%s"]' % (m, m) for m in modules)
    return '{\n  "urls": [\n%s\n  ],\n  "version": "%s"\n}\n' % (pairs, mpboot.__version__)


def test_package_json_lists_every_module():
    # A module added to the package and not listed would be missing on every board that mip installs.
    assert (FIRMWARE / "package.json").read_text() == expected_package_json(), (
        "firmware/package.json is out of date; write tests/test_mip_package.expected_package_json() into it")
    json.loads((FIRMWARE / "package.json").read_text())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_mpremote_mip_installs_the_device_package(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(FIRMWARE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    flash = make_flash(tmp_path)
    try:
        url = "http://127.0.0.1:%d/package.json" % server.server_address[1]
        with SerialBoard(flash, tmp_path) as board:
            r = board.mpremote("mip", "install", "--target", "/lib", "--no-mpy", url, timeout=180)
            assert "Installing: /lib/mpboot_fw/stage.py" in r.stdout, r.stdout
            # It imports on the board: the installed package is the device code, not a stub.
            r = board.mpremote("exec", "from mpboot_fw import version; print(version.compare('1.10.0', '1.9.0'))")
            assert r.stdout.strip() == "1"
    finally:
        server.shutdown()
        server.server_close()
    on_board = vfs_files(flash)
    for path in sorted((FIRMWARE / "mpboot_fw").glob("*.py")):
        assert on_board["/lib/mpboot_fw/" + path.name] == path.read_bytes(), path.name
