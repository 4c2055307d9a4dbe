"""Bytes on the wire for an over-the-air bundle update (tests/bundleworld.py: the emulated board,
real MicroPython, `mpboot serve` over real TLS), counted by a TCP relay between the board and the
server (nginxsite.CuttingRelay, never cutting), so TLS handshakes, records and HTTP headers are
all in the figures: bytes from the server, per kind of request
(TUF metadata, the bundle's manifest target, its files from files/sha256/):

  nothing new    a check that finds nothing to install (root 404, the same timestamp)
  one file       bundle app 1.0.0 -> 2.0.0 where only version.py changed: the manifest target
                 and that one file are fetched, the other files are read from the active copy
  every file     1.0.0 -> 2.0.0 where every file changed (same sizes): each is fetched, as a
                 device without the old copy would fetch the whole bundle

Each figure is one boot's check and install, on a fresh board with bundle 1.0.0 installed. One
connection per request (the device's fetcher sends Connection: close), so each costs a TLS
handshake (about 1.1 KB down here).
"""

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import emuboard  # noqa: E402
from bundleworld import BundleWorld, app_files  # noqa: E402
from mpboot_fw import otaconfig  # noqa: E402
from nginxsite import CuttingRelay  # noqa: E402
from otaworld import output_line  # noqa: E402


def through_relay(w):
    """Point the board's update URL at a relay in front of the server (one that never cuts)."""
    relay = CuttingRelay(w.server.port, cut_after=1 << 62)
    doc = json.loads(w.read_files()[otaconfig.PATH])
    doc["url"] = "https://localhost:%d/" % relay.port
    w.write_files({otaconfig.PATH: json.dumps(doc).encode()})
    return relay


KINDS = ("metadata", "manifest", "files")


def measure(changes):
    """{kind: [requests, bytes down, body bytes]} of the check that installs 2.0.0 with
    `changes` over 1.0.0 (None: a check that finds nothing); kinds: KINDS."""
    with tempfile.TemporaryDirectory() as tmp:
        w = BundleWorld(tmp, emuboard.board_runtime())
        try:
            relay = through_relay(w)
            assert output_line(w.boot(), "ota:") == "current"
            if changes is not None:
                w.publish_bundle("2.0.0", changes)
            w.access.clear()
            del relay.relayed[:]
            record = w.boot()
            assert record.outcome == ("ok" if changes is None else "reset"), record.output
            # `mpboot serve` logs "stamp client GET path status bytes", in the connections' order
            assert len(w.access) == len(relay.relayed), (w.access, relay.relayed)
            out = {kind: [0, 0, 0] for kind in KINDS}
            for line, down in zip(w.access, relay.relayed):
                path, body = line.split()[3], int(line.split()[5])
                kind = "files" if path.startswith("/files/") else "manifest" if path.endswith(".mpbm") else "metadata"
                row = out[kind]
                row[0] += 1
                row[1] += down
                row[2] += body
            relay.stop()
            return out
        finally:
            w.close()


def main():
    v1 = app_files("1.0.0")
    every = {"lib/data.bin": bytes(b ^ 0x20 for b in v1["lib/data.bin"]), "version.py": b"VERSION = '2.0.0'\n",
             "app.py": v1["app.py"] + b"\n", "appota.py": v1["appota.py"] + b"\n"}
    print("bundle app: %d files, %d bytes of files. Per kind of request: requests, bytes down on the wire "
          "(TLS and HTTP included), body bytes" % (len(v1), sum(len(d) for d in v1.values())))
    for label, changes in (("nothing new", None), ("one file", {"version.py": b"VERSION = '2.0.0'\n"}),
                           ("every file", every)):
        out = measure(changes)
        print("  %-11s %s" % (label, "; ".join("%s %d req %d (%d)" % ((k,) + tuple(out[k]))
                                              for k in KINDS if out[k][0])))
        if changes is not None:
            print("  %-11s the bundle's part on the wire (manifest and files): %d bytes down"
                  % ("", out["manifest"][1] + out["files"][1]))


if __name__ == "__main__":
    main()
