"""fetch.Fetcher's reader (open / readinto / close), which an OTA bundle install pulls each
downloaded file through, on CPython against the real HTTPS fixture server (tests/https_fixtures.py):
exactly the file's size or refused, resumed after a cut from exactly the bytes delivered. On
MicroPython it runs inside the OTA bundle tests on the emulated board (tests/test_ota_bundle.py)."""

import random

import pytest

from https_fixtures import Behaviour, HttpsServer, make_pki
from mpboot_fw.fetch import FetchError, Fetcher

PAYLOAD = random.Random(2).randbytes(20_000)
PATH = "/files/sha256/ab"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki):
    with HttpsServer(pki, {PATH: PAYLOAD}) as srv:
        yield srv


def fetcher(pki, **kw):
    kw.setdefault("sleep_ms", lambda ms: None)
    return Fetcher(pki.ca_der, **kw)


def pull(f, url, length, block=1000):
    """Everything the reader gives for `url` in reads of at most `block`, then close(check)."""
    f.open(url, length)
    out = bytearray()
    mv = memoryview(bytearray(block))
    try:
        while True:
            n = f.readinto(mv)
            if not n:
                break
            out += mv[:n]
        f.close(True)
    finally:
        f.close()
    return bytes(out)


def reason(*args, **kw):
    with pytest.raises(FetchError) as e:
        pull(*args, **kw)
    return e.value.reason


def test_reads_exactly_the_file_and_nothing_past_it(pki, server):
    assert pull(fetcher(pki), server.url(PATH), len(PAYLOAD)) == PAYLOAD
    # bytes a server sends after its Content-Length are never delivered
    server.plan = [Behaviour(extra=100)]
    assert pull(fetcher(pki), server.url(PATH), len(PAYLOAD)) == PAYLOAD
    # without a Content-Length the body must end (close_notify) at the size
    server.plan = [Behaviour(length=None)]
    assert pull(fetcher(pki), server.url(PATH), len(PAYLOAD)) == PAYLOAD
    assert [r["range"] for r in server.requests] == [None] * 3


def test_more_or_fewer_bytes_than_the_size_are_refused(pki, server):
    url = server.url(PATH)
    assert reason(fetcher(pki), url, len(PAYLOAD) - 1) == "too-long"  # Content-Length over it
    assert reason(fetcher(pki), url, len(PAYLOAD) + 1) == "too-short"
    server.plan = [Behaviour(length=None, endless=True)]  # endless: cut one byte past the size
    assert reason(fetcher(pki), url, len(PAYLOAD)) == "too-long"
    server.plan = [Behaviour(length=None)]
    assert reason(fetcher(pki), url, len(PAYLOAD) - 1) == "too-long"


def test_a_cut_resumes_from_the_bytes_delivered(pki, server):
    server.plan = [Behaviour(cut=7001), Behaviour(cut=5000)]
    f = fetcher(pki)
    assert pull(f, server.url(PATH), len(PAYLOAD)) == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, 7001, 12001]


def test_a_server_that_ignores_the_range_or_stalls_is_refused(pki, server):
    server.plan = [Behaviour(cut=3000), Behaviour(ignore_range=True)]
    assert reason(fetcher(pki), server.url(PATH), len(PAYLOAD)) == "range-ignored"
    # no progress: at most `retries` attempts in a row, then the last reason
    server.plan = [Behaviour(status=503)] * 4
    assert reason(fetcher(pki, retries=2), server.url(PATH), len(PAYLOAD)) == "http-503"
    assert len(server.requests) == 2 + 3
