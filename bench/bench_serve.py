"""Repository and development server: metadata sizes, publish cost, HTTPS throughput.

  metadata sizes   bytes of each role's file in a fresh repository, and what each published
                   target adds to targets.json (what a device must fit under its size caps)
  publish          time of a publish into a repository listing 0, 10 and 30 targets (30 is about
                   the devices' targets cap), as a ratio to `repo timestamp` on the same
                   repository (the smallest signed change)
  server           one client downloading a 4 MiB target over TLS from `mpboot serve`, against
                   Python's stdlib ThreadingHTTPServer serving the same file with the same TLS
                   context (reference, same process); then 8 clients at once; then one client
                   while 3 others stall (no handshake, trickled request, stopped reading); then
                   one client while 200 others trickle never-ending requests (each holding a
                   connection and a thread, under the default connection cap and deadline)
Everything on 127.0.0.1.
"""

import http.client
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

from mpboot import serve, tls  # noqa: E402
from mpboot.repo import maintain, publish  # noqa: E402
from repotest import key_dir, keyring, make_repo, write_image  # noqa: E402

BIG = 4 * 1024 * 1024


def best(fn, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def metadata_sizes(work):
    repo = make_repo(work / "sizes")
    sizes = {p.name: p.stat().st_size for p in sorted((repo.dir / "metadata").iterdir())}
    print("fresh repository metadata (bytes): " + ", ".join("%s %d" % kv for kv in sizes.items()))
    before = len(repo.raw["targets"])
    for i in range(10):
        image = write_image(work / ("s%d.mpb" % i), [key_dir(repo.dir) / "targets.pem"], version="1.0.%d" % i)
        publish.publish(repo, keyring(repo), image, "stable")
    per = (len(repo.raw["targets"]) - before) / 10
    print("targets.json grows by %.0f bytes per published image (10 published: %d bytes)" % (per, len(repo.raw["targets"])))


def publish_cost(work):
    repo = make_repo(work / "cost")
    ring = keyring(repo)
    key = [key_dir(repo.dir) / "targets.pem"]
    print("%-22s %11s %13s %6s" % ("targets listed", "publish ms", "timestamp ms", "ratio"))
    listed = 0
    for count in (0, 10, 30):
        while listed < count:
            publish.publish(repo, ring, write_image(work / "p.mpb", key, version="0.%d.0" % listed), "bulk")
            listed += 1
        images = iter([write_image(work / ("q%d-%d.mpb" % (count, i)), key, version="9.%d.%d" % (count, i)) for i in range(3)])
        p = best(lambda: publish.publish(repo, ring, next(images), "timed", keep=1), runs=3)
        t = best(lambda: maintain.refresh_timestamp(repo, ring), runs=3)
        print("%-22d %11.1f %13.1f %6.1f" % (count, p * 1000, t * 1000, p / t))


def _get(port, ctx, path):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    assert len(body) == BIG
    return body


def server_throughput(work):
    repo = make_repo(work / "srv")
    target = repo.dir / "targets" / "big.bin"
    target.write_bytes(bytes(BIG))
    dev = tls.ensure_dev_tls(work / "tls")
    client = ssl.create_default_context(cafile=str(dev.ca_cert))
    server_ctx = tls.server_context(dev)

    reference = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(repo.dir)))
    reference.socket = server_ctx.wrap_socket(reference.socket, server_side=True)
    threading.Thread(target=reference.serve_forever, daemon=True).start()
    ref_port = reference.server_address[1]

    with serve.start_server(repo.dir, ssl_context=server_ctx, log=lambda line: None) as s:
        ours = best(lambda: _get(s.port, client, "/targets/big.bin"))
        ref = best(lambda: _get(ref_port, client, "/targets/big.bin"))
        print("one client, 4 MiB over TLS: mpboot serve %.0f MiB/s, stdlib reference %.0f MiB/s (mpboot/stdlib %.2f)"
              % (4 / ours, 4 / ref, ref / ours))

        def many():
            threads = [threading.Thread(target=_get, args=(s.port, client, "/targets/big.bin")) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        t8 = best(many, runs=3)
        print("8 clients at once: %.0f MiB/s in all (%.2f x one client's time for 8 x the bytes)" % (32 / t8, t8 / ours))
        stalled = _stall(s.port, client)
        try:
            with_stalled = best(lambda: _get(s.port, client, "/targets/big.bin"))
        finally:
            for sock in stalled:
                sock.close()
        print("one client while 3 others stall: %.0f MiB/s (ratio to no stalled clients %.2f)" % (4 / with_stalled, with_stalled / ours))
        with_trickling, rounds = _while_trickling(s.port, client, 200)
        print("one client while 200 others trickle: %.0f MiB/s (ratio to no trickling clients %.2f; %d trickle rounds meanwhile)"
              % (4 / with_trickling, with_trickling / ours, rounds))
    reference.shutdown()
    reference.server_close()


def _stall(port, ctx):
    socks = [socket.create_connection(("127.0.0.1", port))]
    trickler = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
    trickler.send(b"GET /tar")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    reader = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    reader.sendall(b"GET /targets/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    reader.recv(10)
    return socks + [trickler, reader]


def _while_trickling(port, ctx, count):
    """Best time of one client's download while `count` clients each send a byte of an endless
    header every 50 ms; and how many rounds of bytes went out meanwhile."""
    socks = []
    stop = threading.Event()
    rounds = [0]

    def trickle():
        while not stop.wait(0.05):
            for sock in socks:
                sock.send(b"a")
            rounds[0] += 1

    pump = threading.Thread(target=trickle)
    try:
        for _ in range(count):
            raw = socket.create_connection(("127.0.0.1", port))
            socks.append(raw)
            socks[-1] = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            socks[-1].sendall(b"GET /targets/big.bin HTTP/1.1\r\nX-Pad: ")
        pump.start()
        before = rounds[0]
        t = best(lambda: _get(port, ctx, "/targets/big.bin"))
        return t, rounds[0] - before
    finally:
        stop.set()
        if pump.is_alive():
            pump.join()
        for sock in socks:
            sock.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main():
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        metadata_sizes(work)
        publish_cost(work)
        server_throughput(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
