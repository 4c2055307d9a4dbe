"""firmware/mpboot_fw/fetch.py on CPython against a real HTTPS server on 127.0.0.1.

The server (tests/https_fixtures.py) does real TLS with certificates made by `cryptography`
and misbehaves on request; nothing here is mocked except the backoff sleep, which is recorded
instead of slept. tests/test_fetch_micropython.py runs the main cases on real MicroPython.
"""

import random
import time

import pytest

from https_fixtures import Behaviour, HttpsServer, SilentServer, make_pki
from mpboot_fw.fetch import FetchError, Fetcher

PAYLOAD = random.Random(1).randbytes(200_000)
FILES = {"/targets/app.bin": PAYLOAD, "/metadata/timestamp.json": b'{"signed": {}}'}
IMG = "/targets/app.bin"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki):
    with HttpsServer(pki, FILES) as srv:
        yield srv


class Sink:
    def __init__(self):
        self.data = bytearray()
        self.sizes = []
        self.resets = 0

    def write(self, mv):
        self.data += mv
        self.sizes.append(len(mv))

    def reset(self):
        self.data = bytearray()
        self.resets += 1


def fetcher(pki, **kw):
    sleeps = []
    kw.setdefault("sleep_ms", sleeps.append)
    f = Fetcher(pki.ca_der, **kw)
    f.sleeps = sleeps
    return f


def reason(fn, *args):
    with pytest.raises(FetchError) as e:
        fn(*args)
    return e.value.reason


# -- the normal path -------------------------------------------------------------------------
def test_full_download_in_whole_blocks(pki, server):
    sink = Sink()
    f = fetcher(pki)
    assert f.download(server.url(IMG), sink, len(PAYLOAD)) == len(PAYLOAD)
    assert sink.data == PAYLOAD
    assert set(sink.sizes[:-1]) == {4096} and sink.sizes[-1] == len(PAYLOAD) % 4096
    assert server.requests[0]["range"] is None and f.sleeps == []


def test_ca_as_pem_and_ip_address_host(pki, server):
    sink = Sink()
    f = Fetcher(pki.ca_pem.read_bytes())
    f.download(server.url(IMG, host="127.0.0.1"), sink, len(PAYLOAD))
    assert sink.data == PAYLOAD


def test_small_document(pki, server):
    buf = bytearray(1024)
    n = fetcher(pki).fetch_into(server.url("/metadata/timestamp.json"), buf)
    assert bytes(buf[:n]) == FILES["/metadata/timestamp.json"]


# -- resume ----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_resume_after_cuts_at_random_points(pki, server, seed):
    rnd = random.Random(seed)
    cuts = [rnd.randrange(1, 60_000) for _ in range(4)]
    server.plan = [Behaviour(cut=c) for c in cuts]
    sink = Sink()
    f = fetcher(pki)
    f.download(server.url(IMG), sink, len(PAYLOAD))
    assert sink.data == PAYLOAD and sink.resets == 0
    # Each resume asks for the bytes after the last whole block the sink accepted.
    ranges = [r["range"] for r in server.requests]
    assert ranges[0] is None and len(ranges) == 5
    expected, pos = [], 0
    for c in cuts:
        pos += c // 4096 * 4096
        expected.append(pos)
    assert ranges[1:] == expected
    assert all(r % 4096 == 0 for r in ranges[1:])


def test_200_instead_of_206_starts_over(pki, server):
    server.plan = [Behaviour(cut=50_000), Behaviour(ignore_range=True)]
    sink = Sink()
    fetcher(pki).download(server.url(IMG), sink, len(PAYLOAD))
    assert server.requests[1]["range"] == 49152
    assert sink.resets == 1 and sink.data == PAYLOAD  # nothing of the 200 appended to the part


def test_200_instead_of_206_cut_again_then_resumed(pki, server):
    server.plan = [Behaviour(cut=30_000), Behaviour(ignore_range=True, cut=70_000)]
    sink = Sink()
    fetcher(pki).download(server.url(IMG), sink, len(PAYLOAD))
    assert [r["range"] for r in server.requests] == [None, 28672, 69632]
    assert sink.resets == 1 and sink.data == PAYLOAD


def slot_writer():
    """The updater's real flash sink: it refuses a block after a short one."""
    from mpboot_fw.install import SlotWriter
    from nor_ram import NorRam

    class Slot(NorRam):
        def info(self):  # esp32.Partition's: size in [3]
            return (0, 0, 0, len(self.mem), "ota_1", False)

    return SlotWriter(Slot(blocks=len(PAYLOAD) // 4096 + 1))


def written(writer):
    return bytes(writer.slot.mem[:writer.written])


@pytest.mark.parametrize("cut", [10_000, 4095, 8193])
def test_clean_end_without_length_mid_block_resumes_on_a_block_boundary(pki, server, cut):
    # No Content-Length and a clean TLS close: the body may be whole or cut, only the expected
    # length tells. The partial block is not delivered; the resume asks for it again.
    server.plan = [Behaviour(length=None, cut=cut, clean_cut=True)]
    writer = slot_writer()
    fetcher(pki).download(server.url(IMG), writer, len(PAYLOAD))
    assert written(writer) == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, cut // 4096 * 4096 or None]


def test_206_ending_before_the_file_mid_block_resumes_on_a_block_boundary(pki, server):
    n = len(PAYLOAD)
    server.plan = [Behaviour(cut=10_000),
                   Behaviour(content_range="bytes 8192-12999/%d" % n, length=4808, cut=4808, clean_cut=True)]
    writer = slot_writer()
    fetcher(pki).download(server.url(IMG), writer, n)
    assert written(writer) == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, 8192, 12288]


def test_short_last_block_without_length_is_the_end_of_the_file(pki, server):
    # The same clean end, at the length the TUF entry gives: the short block is the file's last.
    server.plan = [Behaviour(length=None)]
    writer = slot_writer()
    fetcher(pki).download(server.url(IMG), writer, len(PAYLOAD))
    assert written(writer) == PAYLOAD and len(server.requests) == 1


def test_clean_ends_short_of_a_block_exhaust_the_retries(pki, server):
    server.default = Behaviour(length=None, cut=3000, clean_cut=True)
    sink = Sink()
    assert reason(fetcher(pki, retries=2).download, server.url(IMG), sink, len(PAYLOAD)) == "closed"
    assert len(server.requests) == 3 and sink.data == b""


def test_document_without_length_dropped_without_close_notify_is_retried(pki, server):
    # A TCP close with no TLS close_notify may be anyone's (an injected FIN): not an end of
    # the body. MicroPython's mbedtls reports it as an error; CPython must too.
    doc = FILES["/metadata/timestamp.json"]
    server.plan = [Behaviour(length=None, cut=5)]
    buf = bytearray(1024)
    f = fetcher(pki)
    assert bytes(buf[:f.fetch_into(server.url("/metadata/timestamp.json"), buf)]) == doc
    assert len(server.requests) == 2 and f.sleeps == [1000]


def test_document_without_length_ends_at_close_notify(pki, server):
    doc = FILES["/metadata/timestamp.json"]
    server.plan = [Behaviour(length=None)]
    buf = bytearray(1024)
    assert bytes(buf[:fetcher(pki).fetch_into(server.url("/metadata/timestamp.json"), buf)]) == doc
    assert len(server.requests) == 1


def test_range_ignored_without_a_resettable_sink(pki, server):
    server.plan = [Behaviour(ignore_range=True)]

    class Plain:
        def write(self, mv):
            raise AssertionError("no byte of a 200 may reach a sink resumed at 4096")

    assert reason(fetcher(pki).get, server.url(IMG), Plain(), len(PAYLOAD), 4096) == "range-ignored"


def test_content_range_must_be_the_range_asked_for(pki, server):
    server.plan = [Behaviour(cut=10_000), Behaviour(content_range="bytes 0-199999/200000")]
    assert reason(fetcher(pki).download, server.url(IMG), Sink(), len(PAYLOAD)) == "bad-range"


def test_content_range_with_another_total_length(pki, server):
    n = len(PAYLOAD)
    server.plan = [Behaviour(cut=10_000), Behaviour(content_range="bytes 8192-%d/%d" % (n - 1, n + 1))]
    assert reason(fetcher(pki).download, server.url(IMG), Sink(), n) == "too-long"


def test_unsolicited_206(pki, server):
    server.plan = [Behaviour(status=206)]
    assert reason(fetcher(pki).download, server.url(IMG), Sink(), len(PAYLOAD)) == "bad-range"


# -- endless data ----------------------------------------------------------------------------
def test_bytes_past_the_content_length_are_never_read(pki, server):
    server.plan = [Behaviour(extra=1_000_000)]
    sink = Sink()
    fetcher(pki).download(server.url(IMG), sink, len(PAYLOAD))
    assert sink.data == PAYLOAD


def test_content_length_above_the_limit_refused_before_the_body(pki, server):
    server.plan = [Behaviour(length=len(PAYLOAD) + 1, extra=1)]
    sink = Sink()
    assert reason(fetcher(pki).download, server.url(IMG), sink, len(PAYLOAD)) == "too-long"
    assert sink.data == b"" and len(server.requests) == 1  # an attack is not retried


def test_endless_body_without_length_is_cut_at_the_limit(pki, server):
    server.plan = [Behaviour(length=None, endless=True)]
    sink = Sink()
    t = time.monotonic()
    assert reason(fetcher(pki).download, server.url(IMG), sink, len(PAYLOAD)) == "too-long"
    assert time.monotonic() - t < 5
    assert len(sink.data) <= len(PAYLOAD) and sink.data == PAYLOAD[:len(sink.data)]


def test_small_document_over_its_cap(pki, server):
    buf = bytearray(64 * 1024)
    assert reason(fetcher(pki).fetch_into, server.url(IMG), buf) == "too-long"
    assert reason(fetcher(pki).fetch_into, server.url("/metadata/timestamp.json"), buf, 5) == "too-long"
    server.plan = [Behaviour(length=None, endless=True)]
    assert reason(fetcher(pki).fetch_into, server.url("/metadata/timestamp.json"), buf) == "too-long"


def test_shorter_file_than_expected(pki, server):
    assert reason(fetcher(pki).download, server.url(IMG), Sink(), len(PAYLOAD) + 1) == "too-short"


def test_endless_headers(pki, server):
    server.plan = [Behaviour(head=b"HTTP/1.1 200 OK\r\n" + b"X-Pad: yyyyyyyyyyyyyyyy\r\n" * 5000)]
    assert reason(fetcher(pki).download, server.url(IMG), Sink(), len(PAYLOAD)) == "bad-response"


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"HTTP/1.1 20x OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
])
def test_malformed_heads(pki, server, head):
    server.plan = [Behaviour(head=head)]
    assert reason(fetcher(pki).download, server.url(IMG), Sink(), len(PAYLOAD)) == "bad-response"


@pytest.mark.parametrize("header,why", [("Transfer-Encoding: chunked", "chunked"), ("Content-Encoding: gzip", "encoding")])
def test_encodings_refused(pki, server, header, why):
    server.plan = [Behaviour(headers=[header])]
    assert reason(fetcher(pki).download, server.url(IMG), Sink(), len(PAYLOAD)) == why


# -- slow retrieval and timeouts -------------------------------------------------------------
def test_slow_retrieval_refused_in_bounded_time(pki, server):
    server.plan = [Behaviour(rate=4000, piece=256)]
    f = fetcher(pki, min_rate=40_000, window_ms=300, retries=0)
    t = time.monotonic()
    assert reason(f.download, server.url(IMG), Sink(), len(PAYLOAD)) == "too-slow"
    assert time.monotonic() - t < 2


def test_trickle_just_under_the_read_timeout_is_still_too_slow(pki, server):
    # One byte every 0.1 s never trips a 0.4 s read timeout; the rate window catches it.
    server.plan = [Behaviour(rate=10, piece=1)]
    f = fetcher(pki, timeout_ms=400, min_rate=1000, window_ms=600, retries=0)
    t = time.monotonic()
    assert reason(f.download, server.url(IMG), Sink(), len(PAYLOAD)) == "too-slow"
    assert time.monotonic() - t < 2


def test_trickled_headers_are_too_slow(pki, server):
    server.plan = [Behaviour(headers=["X-Pad: " + "y" * 2000], rate=20, piece=1, slow_head=True)]
    f = fetcher(pki, timeout_ms=400, min_rate=1000, window_ms=300, retries=0)
    assert reason(f.download, server.url(IMG), Sink(), len(PAYLOAD)) == "too-slow"


def test_stalled_body_times_out(pki, server):
    server.plan = [Behaviour(stall=3)]
    f = fetcher(pki, timeout_ms=300, retries=0)
    t = time.monotonic()
    assert reason(f.download, server.url(IMG), Sink(), len(PAYLOAD)) == "timeout"
    assert time.monotonic() - t < 1.5


def test_stalled_handshake_times_out(pki):
    with SilentServer() as silent:
        f = fetcher(pki, timeout_ms=300, retries=0)
        t = time.monotonic()
        assert reason(f.download, silent.url("/x"), Sink(), 10) == "timeout"
        assert time.monotonic() - t < 1.5


# -- TLS -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cert", ["wrong-name", "rogue"])
def test_server_certificate_checked(pki, cert):
    with HttpsServer(pki, FILES, cert=cert) as srv:
        f = fetcher(pki)
        assert reason(f.download, srv.url(IMG), Sink(), len(PAYLOAD)) == "tls-cert"
        assert srv.requests == [] and f.sleeps == []  # no request sent, no retry


def test_ip_address_host_checked_against_the_certificate(pki):
    # A valid certificate from the right CA, for another name only: not for 127.0.0.1 either.
    with HttpsServer(pki, FILES, cert="wrong-name") as srv:
        url = srv.url("/metadata/timestamp.json", host="127.0.0.1")
        assert reason(fetcher(pki).fetch_into, url, bytearray(100)) == "tls-cert"


def test_client_certificate_required(pki):
    with HttpsServer(pki, FILES, client_auth=True) as srv:
        assert reason(fetcher(pki, retries=0).download, srv.url(IMG), Sink(), len(PAYLOAD)) in ("tls", "closed")
        sink = Sink()
        cert, key = pki.pair("client")
        fetcher(pki, cert=cert, key=key).download(srv.url(IMG), sink, len(PAYLOAD))
        assert sink.data == PAYLOAD


def test_bearer_token(pki):
    with HttpsServer(pki, FILES, token="s3cret-token") as srv:
        f = fetcher(pki)
        assert reason(f.download, srv.url(IMG), Sink(), len(PAYLOAD)) == "http-401"
        assert len(srv.requests) == 1 and f.sleeps == []
        sink = Sink()
        fetcher(pki, token="s3cret-token").download(srv.url(IMG), sink, len(PAYLOAD))
        assert sink.data == PAYLOAD
        assert srv.requests[-1]["authorization"] == "Bearer s3cret-token"


def test_token_cannot_inject_headers(pki):
    with pytest.raises(ValueError):
        Fetcher(pki.ca_der, token="x\r\nHost: evil")


# -- HTTP status and retries -----------------------------------------------------------------
def test_retries_with_exponential_backoff_then_give_up(pki, server):
    server.default = Behaviour(status=503)
    f = fetcher(pki, retries=4, backoff_ms=100)
    assert reason(f.download, server.url(IMG), Sink(), len(PAYLOAD)) == "http-503"
    assert len(server.requests) == 5
    assert f.sleeps == [100, 200, 400, 800]


def test_backoff_is_capped(pki, server):
    server.default = Behaviour(status=503)
    f = fetcher(pki, retries=8, backoff_ms=20_000)
    reason(f.download, server.url(IMG), Sink(), len(PAYLOAD))
    assert f.sleeps == [20_000, 40_000] + [60_000] * 6


def test_transient_failure_then_success(pki, server):
    server.plan = [Behaviour(status=503), Behaviour(status=429)]
    sink = Sink()
    f = fetcher(pki)
    f.download(server.url(IMG), sink, len(PAYLOAD))
    assert sink.data == PAYLOAD and f.sleeps == [1000, 2000]


def test_connection_refused_is_retried_then_reported(pki):
    srv = HttpsServer(pki, FILES)
    url = srv.url(IMG)
    srv.stop()
    f = fetcher(pki, retries=2)
    assert reason(f.download, url, Sink(), 10) == "refused"
    assert f.sleeps == [1000, 2000]


def test_cuts_without_progress_exhaust_the_retries(pki, server):
    server.default = Behaviour(cut=1000)  # less than a block: the sink never moves
    f = fetcher(pki, retries=3)
    assert reason(f.download, server.url(IMG), Sink(), len(PAYLOAD)) == "closed"
    assert len(server.requests) == 4


def test_progress_resets_the_retries_but_attempts_are_capped(pki, server):
    server.default = Behaviour(cut=5000)  # one block of progress per attempt
    f = fetcher(pki, retries=1, attempts=6)
    sink = Sink()
    assert reason(f.download, server.url(IMG), sink, len(PAYLOAD)) == "closed"
    assert len(server.requests) == 6 and len(sink.data) == 6 * 4096
    assert f.sleeps == [1000] * 6


@pytest.mark.parametrize("status,why", [(404, "http-404"), (403, "http-403"), (416, "http-416"),
                                        (302, "redirect"), (301, "redirect")])
def test_final_statuses_are_not_retried(pki, server, status, why):
    server.default = Behaviour(status=status, headers=["Location: https://elsewhere.example/"])
    f = fetcher(pki)
    assert reason(f.download, server.url(IMG), Sink(), len(PAYLOAD)) == why
    assert len(server.requests) == 1 and f.sleeps == []


def test_sink_errors_propagate_unchanged(pki, server):
    class Broken(Sink):
        def write(self, mv):
            raise OSError(5, "flash write failed")

    with pytest.raises(OSError) as e:
        fetcher(pki).download(server.url(IMG), Broken(), len(PAYLOAD))
    assert not isinstance(e.value, FetchError) and len(server.requests) == 1


@pytest.mark.parametrize("url,why", [
    ("http://localhost/x", "scheme"),
    ("https://user@localhost/x", "url"),
    ("https://localhost:0/x", "url"),
    ("https://localhost/a b", "url"),
    ("https://localhost/\r\nX: y", "url"),
    ("https://[::1/x", "url"),
])
def test_bad_urls(pki, url, why):
    assert reason(fetcher(pki).download, url, Sink(), 10) == why


# -- against the product's development server (mpboot serve) ---------------------------------
@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    from mpboot.serve import start_server
    from mpboot.tls import ensure_dev_tls, server_context

    root = tmp_path_factory.mktemp("repo")
    (root / "metadata").mkdir()
    (root / "targets").mkdir()
    (root / "targets" / "app.bin").write_bytes(PAYLOAD)
    tls = ensure_dev_tls(tmp_path_factory.mktemp("tls"))
    with start_server(root, ssl_context=server_context(tls), log=lambda line: None) as srv:
        yield srv, tls.ca_cert.read_bytes()


def test_mpboot_serve_download_and_resume(dev_server):
    srv, ca = dev_server
    url = srv.url + "targets/app.bin"
    sink = Sink()
    Fetcher(ca).download(url, sink, len(PAYLOAD))
    assert sink.data == PAYLOAD
    tail = Sink()
    assert Fetcher(ca).get(url, tail, len(PAYLOAD), 12288, True) == len(PAYLOAD)
    assert tail.data == PAYLOAD[12288:] and tail.resets == 0
    assert reason(Fetcher(ca).get, url, Sink(), len(PAYLOAD) + 10, len(PAYLOAD) + 5) == "http-416"
