"""The same firmware/mpboot_fw/fetch.py on real MicroPython (WebAssembly port), against the
real HTTPS servers of tests/https_fixtures.py.

The board's `socket` and `ssl` are the emulator's (host-tools/mpboot/emulator/mpylib), backed
by `NetHandler`: real TCP to 127.0.0.1 and real TLS (OpenSSL) with the CA and host name the
device code gives. The name updates.example.test resolves to 127.0.0.1 through the handler's
`hosts`, so no DNS query leaves the machine.
"""

import hashlib
import random
from pathlib import Path

import pytest

from https_fixtures import Behaviour, HttpsServer, make_pki
from mpboot.emulator.net import NetHandler

MPYLIB = Path(__file__).resolve().parents[1] / "host-tools" / "mpboot" / "emulator" / "mpylib"
PAYLOAD = random.Random(2).randbytes(200_000)
IMG = "/targets/app.bin"
HOST = "updates.example.test"

PRELUDE = r"""
import gc, hashlib, time
from mpboot_fw.fetch import Fetcher, FetchError

class Sink:
    def __init__(self):
        self.h = hashlib.sha256(); self.n = 0; self.resets = 0; self.odd = 0
    def write(self, mv):
        self.h.update(mv); self.n += len(mv)
        if len(mv) != 4096: self.odd += 1
    def reset(self):
        self.h = hashlib.sha256(); self.n = 0; self.resets += 1

SLEEPS = []
def fetcher(**kw):
    kw.setdefault('sleep_ms', SLEEPS.append)
    return Fetcher(open('/ca.der', 'rb').read(), **kw)

def download(url, length, **kw):
    sink = Sink()
    t = time.ticks_ms()
    try:
        fetcher(**kw).download(url, sink, length)
        print('@@ ok', sink.n, sink.h.digest().hex(), sink.resets, sink.odd, time.ticks_diff(time.ticks_ms(), t))
    except FetchError as e:
        print('@@ err', e.reason, sink.n, time.ticks_diff(time.ticks_ms(), t))
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki):
    with HttpsServer(pki, {IMG: PAYLOAD}) as srv:
        yield srv


def run(micropython, ca_der, code, certs=None, timeout=60, files=None):
    """Run `code` (after PRELUDE) on a fresh board provisioned with the CA `ca_der` (and the
    client certificate in `certs`, and `files`: path -> bytes); returns the fields of its '@@'
    line(s)."""
    handler = NetHandler(hosts={HOST: "127.0.0.1"})
    micropython.boot()
    micropython.put_firmware()
    for name in ("_emu.py", "socket.py", "ssl.py"):
        micropython.put_file("/lib/" + name, (MPYLIB / name).read_bytes())
    micropython.put_file("/ca.der", ca_der)
    for path, data in (files or {}).items():
        micropython.put_file(path, data)
    for name in ("client.pem", "client.key") if certs else ():
        micropython.put_file("/certs/" + name, (certs / name).read_bytes())
    try:
        text = micropython.run(PRELUDE + code, handler=handler, timeout=timeout).check()
    finally:
        handler.close()
    lines = [line.split()[1:] for line in text.splitlines() if line.startswith("@@ ")]
    assert lines, text
    return lines[0] if len(lines) == 1 else lines


def ok(fields, data=PAYLOAD, resets=0):
    assert fields[0] == "ok", fields
    assert int(fields[1]) == len(data) and fields[2] == hashlib.sha256(data).hexdigest()
    assert int(fields[3]) == resets
    assert int(fields[4]) <= 1  # whole blocks, but for the last


# -- fetch.py on MicroPython -----------------------------------------------------------------
def test_download(micropython, pki, server):
    ok(run(micropython, pki.ca_der, "download(%r, %d)" % (server.url(IMG, HOST), len(PAYLOAD))))
    assert server.requests[0]["range"] is None


@pytest.mark.parametrize("seed", [11, 12])
def test_resume_after_cuts_at_random_points(micropython, pki, server, seed):
    rnd = random.Random(seed)
    cuts = [rnd.randrange(1, 60_000) for _ in range(3)]
    server.plan = [Behaviour(cut=c) for c in cuts]
    ok(run(micropython, pki.ca_der, "download(%r, %d)\nprint(SLEEPS)" % (server.url(IMG, HOST), len(PAYLOAD))))
    ranges = [r["range"] for r in server.requests]
    assert len(ranges) == 4 and ranges[0] is None and all(r % 4096 == 0 for r in ranges[1:])
    assert ranges[1] == cuts[0] // 4096 * 4096


def test_200_instead_of_206_starts_over(micropython, pki, server):
    server.plan = [Behaviour(cut=50_000), Behaviour(ignore_range=True)]
    ok(run(micropython, pki.ca_der, "download(%r, %d)" % (server.url(IMG, HOST), len(PAYLOAD))), resets=1)
    assert [r["range"] for r in server.requests] == [None, 49152]


SLOT = r"""
from mpboot_fw.install import SlotWriter
from nor_ram import NorRam

class Slot(NorRam):
    def info(self):
        return (0, 0, 0, len(self.mem), 'ota_1', False)

def to_slot(url, length, **kw):
    w = SlotWriter(Slot(blocks=length // 4096 + 1))
    try:
        fetcher(**kw).download(url, w, length)
        print('@@ ok', w.written, hashlib.sha256(w.slot.mem[:w.written]).digest().hex(), 0, 0)
    except Exception as e:
        print('@@ err', getattr(e, 'reason', repr(e)), w.written)
"""
NOR_RAM = Path(__file__).resolve().parent / "device" / "nor_ram.py"


def test_clean_ends_mid_block_resume_on_a_block_boundary(micropython, pki, server):
    # No Content-Length and a clean close mid-block, then a 206 that stops mid-block before the
    # end: the real slot writer (which refuses a block after a short one) gets the whole image.
    n = len(PAYLOAD)
    server.plan = [Behaviour(length=None, cut=10_000, clean_cut=True),
                   Behaviour(content_range="bytes 8192-12999/%d" % n, length=4808, cut=4808, clean_cut=True),
                   Behaviour(length=None)]
    url = server.url(IMG, HOST)
    cut, whole = run(micropython, pki.ca_der, SLOT + "to_slot(%r, %d)\nto_slot(%r, %d)" % (url, n, url, n),
                     files={"/lib/nor_ram.py": NOR_RAM.read_bytes()})
    ok(cut)
    ok(whole)  # the same clean end without a length, at the length expected: the last block
    assert [r["range"] for r in server.requests] == [None, 8192, 12288, None]


def test_document_dropped_without_close_notify_is_retried(micropython, pki):
    # Not an end of a body without a length (mbedtls reports it; CPython is made to agree).
    doc = b'{"signed": {}}'
    with HttpsServer(pki, {"/metadata/timestamp.json": doc}) as srv:
        srv.plan = [Behaviour(length=None, cut=5)]
        fields = run(micropython, pki.ca_der, """
buf = bytearray(1024)
n = fetcher().fetch_into(%r, buf)
print('@@', bytes(buf[:n]).hex(), SLEEPS)
""" % srv.url("/metadata/timestamp.json", HOST))
        assert fields == [doc.hex(), "[1000]"] and len(srv.requests) == 2


def test_endless_data(micropython, pki, server):
    server.plan = [Behaviour(extra=500_000), Behaviour(length=None, endless=True),
                   Behaviour(length=len(PAYLOAD) + 1, extra=1)]
    url = server.url(IMG, HOST)
    code = "download(%r, %d)\n" % (url, len(PAYLOAD)) * 3
    lying, endless, too_long = run(micropython, pki.ca_der, code)
    ok(lying)  # bytes past the Content-Length were never read
    assert endless[:2] == ["err", "too-long"] and int(endless[2]) <= len(PAYLOAD)
    assert too_long[:3] == ["err", "too-long", "0"]


def test_small_document_cap(micropython, pki, server):
    fields = run(micropython, pki.ca_der, """
f = fetcher()
buf = bytearray(8192)
try:
    f.fetch_into(%r, buf)
except FetchError as e:
    print('@@ err', e.reason)
""" % server.url(IMG, HOST))
    assert fields == ["err", "too-long"]


@pytest.mark.parametrize("cert", ["wrong-name", "rogue"])
def test_server_certificate_checked(micropython, pki, cert):
    with HttpsServer(pki, {IMG: PAYLOAD}, cert=cert) as srv:
        fields = run(micropython, pki.ca_der, "download(%r, %d)" % (srv.url(IMG, HOST), len(PAYLOAD)))
        assert fields[:3] == ["err", "tls-cert", "0"] and srv.requests == []


def test_slow_retrieval(micropython, pki, server):
    server.plan = [Behaviour(rate=10, piece=1)]  # a byte every 0.1 s: never a read timeout
    fields = run(micropython, pki.ca_der, "download(%r, %d, timeout_ms=500, min_rate=1000, window_ms=800, retries=0)"
                 % (server.url(IMG, HOST), len(PAYLOAD)))
    assert fields[:2] == ["err", "too-slow"] and int(fields[3]) < 2000


def test_stall_times_out(micropython, pki, server):
    server.plan = [Behaviour(stall=3)]
    fields = run(micropython, pki.ca_der, "download(%r, %d, timeout_ms=400, retries=0)" % (server.url(IMG, HOST), len(PAYLOAD)))
    assert fields[:2] == ["err", "timeout"] and int(fields[3]) < 1500


def test_client_certificate_and_token(micropython, pki):
    with HttpsServer(pki, {IMG: PAYLOAD}, client_auth=True, token="tok-1") as srv:
        url = srv.url(IMG, HOST)
        without, with_cert = run(micropython, pki.ca_der, """
download(%r, %d, token='tok-1', retries=0)
download(%r, %d, token='tok-1', cert='/certs/client.pem', key='/certs/client.key')
""" % (url, len(PAYLOAD), url, len(PAYLOAD)), certs=pki.directory)
        assert without[0] == "err" and without[1] in ("tls", "closed")
        ok(with_cert)
        assert srv.requests[-1]["authorization"] == "Bearer tok-1"


def test_retries_and_backoff(micropython, pki, server):
    server.default = Behaviour(status=503)
    fields = run(micropython, pki.ca_der, "download(%r, 10, retries=3, backoff_ms=50)\nprint('@@', SLEEPS)"
                 % server.url(IMG, HOST))
    assert fields[0][:2] == ["err", "http-503"] and "".join(fields[1]) == "[50,100,200]"
    assert len(server.requests) == 4


def test_names_resolve_only_through_the_emulators_hosts(micropython, pki):
    fields = run(micropython, pki.ca_der, "download('https://no-such-host.example/x', 10, retries=1)\nprint('@@', SLEEPS)")
    assert fields[0][:2] == ["err", "dns"] and fields[1] == ["[1000]"]


def test_destinations_outside_the_allowlist_refused(micropython, pki):
    fields = run(micropython, pki.ca_der, """
import socket, errno
s = socket.socket()
try:
    s.connect(('192.0.2.1', 443))
except OSError as e:
    print('@@', e.errno == errno.EACCES)
download('https://192.0.2.1/x', 10, retries=0)
""")
    assert fields[0] == ["True"] and fields[1][:2] == ["err", "connect"]


def test_download_from_mpboot_serve(micropython, pki, tmp_path):
    from mpboot.serve import start_server
    from mpboot.tls import ensure_dev_tls, server_context

    (tmp_path / "repo" / "metadata").mkdir(parents=True)
    (tmp_path / "repo" / "targets").mkdir()
    (tmp_path / "repo" / "targets" / "app.bin").write_bytes(PAYLOAD)
    tls = ensure_dev_tls(pki.directory, names=[HOST])  # the fixture's CA is the development CA
    with start_server(tmp_path / "repo", ssl_context=server_context(tls), log=lambda line: None) as srv:
        ok(run(micropython, pki.ca_der, "download('https://%s:%d/targets/app.bin', %d)" % (HOST, srv.port, len(PAYLOAD))))


BOARD_MAIN = """
import hashlib
from mpboot_fw.fetch import Fetcher
class Sink:
    def __init__(self):
        self.h = hashlib.sha256()
    def write(self, mv):
        self.h.update(mv)
f = Fetcher(open('/ca.der', 'rb').read())
sink = Sink()
f.download(%r, sink, %d)
print('@@', sink.h.digest().hex())
"""


def test_fetch_on_the_emulated_board(micropython, pki, server):
    # The board's own wiring: mpylib's socket/ssl on the board, NetHandler as its "net" service.
    from emuboard import new_flash
    from mpboot.emulator.board import Board

    package = Path(__file__).resolve().parents[1] / "firmware" / "mpboot_fw"
    files = {"/lib/mpboot_fw/%s" % name: (package / name).read_bytes() for name in ("__init__.py", "fetch.py")}
    files["/ca.der"] = pki.ca_der
    files["/main.py"] = BOARD_MAIN % (server.url(IMG, HOST), len(PAYLOAD))
    net = NetHandler(hosts={HOST: "127.0.0.1"})
    with Board(new_flash(files), "esp32-4mb", runtime=micropython, services={"net": net}) as board:
        record = board.boot()
    assert record.outcome == "ok", record.output
    assert "@@ " + hashlib.sha256(PAYLOAD).hexdigest() in record.output
    assert net.connections == [("127.0.0.1", server.port)]


# -- the emulated ssl/socket behave as MicroPython's -----------------------------------------
def test_emulated_ssl_verifies_nothing_by_default_like_micropython(micropython, pki):
    # MicroPython's ssl.SSLContext starts with CERT_NONE; fetch.py must opt in (it does: the
    # rogue-CA test above fails it). Here, a bare context accepts the rogue certificate.
    with HttpsServer(pki, {IMG: b"hello"}, cert="rogue") as srv:
        fields = run(micropython, pki.ca_der, """
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ai = socket.getaddrinfo(%r, %d)[0]
s = socket.socket(ai[0], ai[1], ai[2])
s.settimeout(5)
s.connect(ai[-1])
t = ctx.wrap_socket(s, server_hostname=%r)
t.write(b'GET %s HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
buf = bytearray(12)
print('@@', ctx.verify_mode, t.readinto(buf), bytes(buf))
ctx.verify_mode = ssl.CERT_REQUIRED
try:
    ctx.wrap_socket(socket.socket(), server_hostname=None)
except ValueError as e:
    print('@@', 'ValueError', e)
""" % (HOST, srv.port, HOST, IMG))
        assert fields[0] == ["0", "12", "b'HTTP/1.1", "200'"]
        assert fields[1][0] == "ValueError" and "server_hostname" in " ".join(fields[1])


# -- memory ----------------------------------------------------------------------------------
MEMORY = r"""
class Probe(Sink):
    peak = 0
    def write(self, mv):
        Sink.write(self, mv)
        gc.collect()
        Probe.peak = max(Probe.peak, gc.mem_alloc())

gc.collect(); idle = gc.mem_alloc()
f = fetcher()
gc.collect(); ready = gc.mem_alloc()
f.download(URL, Probe(), LEN)
gc.collect()
gc.disable(); before = gc.mem_alloc()
f.download(URL, Sink(), LEN)
churn = gc.mem_alloc() - before
gc.enable()
print('@@', ready - idle, Probe.peak - idle, churn)
"""


def test_memory_during_a_200_kb_download(micropython, pki, server, record_property):
    code = MEMORY.replace("URL", repr(server.url(IMG, HOST))).replace("LEN", str(len(PAYLOAD)))
    fetcher_bytes, peak, churn = (int(x) for x in run(micropython, pki.ca_der, code))
    record_property("fetcher_bytes", fetcher_bytes)
    record_property("peak_above_idle", peak)
    record_property("allocated_per_download", churn)
    print("fetcher %d B, live peak above idle %d B, allocated during a 200 KB download %d B"
          % (fetcher_bytes, peak, churn))
    assert peak < 16 * 1024  # one 4 KiB block and small objects, never the body
