"""Bytes on the wire for an over-the-air bundle update (tests/bundleworld.py: the emulated board,
real MicroPython, `mpboot serve` over real TLS), counted by a TCP relay between the board and the
server, so TLS handshakes, records and HTTP headers are all in the figures, per kind of request
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
import socket
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import emuboard  # noqa: E402
from bundleworld import BundleWorld, app_files  # noqa: E402
from mpboot_fw import otaconfig  # noqa: E402
from otaworld import output_line  # noqa: E402


class Relay:
    """A TCP relay on 127.0.0.1 to `port`, counting the bytes it carries each way per connection,
    in the order they came (the device makes one request per connection, one at a time)."""

    def __init__(self, port):
        self.target = port
        self.conns = []  # [bytes up, bytes down] per connection
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        with self._lock:
            self.conns = []

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            counts = [0, 0]
            with self._lock:
                self.conns.append(counts)
            threading.Thread(target=self._pipe, args=(client, server, counts, 0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, counts, 1), daemon=True).start()

    def _pipe(self, src, dst, counts, way):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    counts[way] += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self._listener.close()


def through_relay(w):
    """Point the board's update URL at a relay in front of the server."""
    relay = Relay(w.server.port)
    doc = json.loads(w.read_files()[otaconfig.PATH])
    doc["url"] = "https://localhost:%d/" % relay.port
    w.write_files({otaconfig.PATH: json.dumps(doc).encode()})
    return relay


KINDS = ("metadata", "manifest", "files")


def measure(changes):
    """{kind: [requests, bytes up, bytes down, body bytes]} of the check that installs 2.0.0 with
    `changes` over 1.0.0 (None: a check that finds nothing); kinds: KINDS."""
    with tempfile.TemporaryDirectory() as tmp:
        w = BundleWorld(tmp, emuboard.board_runtime())
        try:
            relay = through_relay(w)
            assert output_line(w.boot(), "ota:") == "current"
            if changes is not None:
                w.publish_bundle("2.0.0", changes)
            w.access.clear()
            relay.reset()
            record = w.boot()
            assert record.outcome == ("ok" if changes is None else "reset"), record.output
            # `mpboot serve` logs "stamp client GET path status bytes", in the connections' order
            assert len(w.access) == len(relay.conns), (w.access, relay.conns)
            out = {kind: [0, 0, 0, 0] for kind in KINDS}
            for line, (up, down) in zip(w.access, relay.conns):
                path, body = line.split()[3], int(line.split()[5])
                kind = "files" if path.startswith("/files/") else "manifest" if path.endswith(".mpbm") else "metadata"
                row = out[kind]
                row[0] += 1
                row[1] += up
                row[2] += down
                row[3] += body
            relay.close()
            return out
        finally:
            w.close()


def main():
    v1 = app_files("1.0.0")
    every = {"lib/data.bin": bytes(b ^ 0x20 for b in v1["lib/data.bin"]), "version.py": b"VERSION = '2.0.0'\n",
             "app.py": v1["app.py"] + b"\n", "appota.py": v1["appota.py"] + b"\n"}
    print("bundle app: %d files, %d bytes of files. Per kind of request: requests, bytes up / down on the wire "
          "(TLS and HTTP included), body bytes" % (len(v1), sum(len(d) for d in v1.values())))
    for label, changes in (("nothing new", None), ("one file", {"version.py": b"VERSION = '2.0.0'\n"}),
                           ("every file", every)):
        out = measure(changes)
        print("  %-11s %s" % (label, "; ".join("%s %d req %d / %d (%d)" % ((k,) + tuple(out[k]))
                                              for k in KINDS if out[k][0])))
        if changes is not None:
            print("  %-11s the bundle's part on the wire (manifest and files): %d bytes down, %d up"
                  % ("", out["manifest"][2] + out["files"][2], out["manifest"][1] + out["files"][1]))


if __name__ == "__main__":
    main()
