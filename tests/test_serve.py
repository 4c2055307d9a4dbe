"""The development update server: real TLS with the generated CA, ranges, access log, and clients
that stall or trickle while others are served. Everything stays on 127.0.0.1 and every wait is
bounded by a timeout (a failure, never a speed measurement)."""

import http.client
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509

import clihelp
from mpboot import serve, tls
from mpboot.errors import MpbootError

BIG = 4 * 1024 * 1024
WAIT = 20  # seconds: an upper bound on things that take milliseconds


@pytest.fixture(scope="module")
def dev_tls(tmp_path_factory):
    return tls.ensure_dev_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "targets" / "board" / "stable").mkdir(parents=True)
    (tmp_path / "metadata" / "timestamp.json").write_bytes(b'{"signed":{}}')
    big = os.urandom(BIG)
    (tmp_path / "targets" / "board" / "stable" / "abc.1.mpb").write_bytes(big)
    (tmp_path / "repo-settings.json").write_text("{}")
    (tmp_path / "metadata" / ".timestamp.json.123.tmp").write_text("partial")
    return tmp_path, big


@pytest.fixture
def server(repo, dev_tls):
    lines = []
    s = serve.start_server(repo[0], ssl_context=tls.server_context(dev_tls), timeout=WAIT, log=lines.append)
    s.log_lines = lines
    yield s
    s.stop()


def client_context(dev_tls):
    return ssl.create_default_context(cafile=str(dev_tls.ca_cert))


def get(server, dev_tls, path, headers=None, method="GET", host="127.0.0.1"):
    conn = http.client.HTTPSConnection(host, server.port, context=client_context(dev_tls), timeout=WAIT)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


TARGET = "/targets/board/stable/abc.1.mpb"


@pytest.mark.parametrize(
    "header,size,expected",
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=10-", 10, "unsatisfiable"),
        ("bytes=10-20", 10, "unsatisfiable"),
        ("bytes=-0", 10, "unsatisfiable"),
        ("bytes=0-", 0, "unsatisfiable"),
        ("bytes=5-2", 10, None),  # invalid: ignored
        ("bytes=0-1,4-5", 10, None),  # several ranges: answered with the whole file
        ("items=0-1", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=-", 10, None),
        ("bytes=\u00b2-", 10, None),
    ],
)
def test_parse_range(header, size, expected):
    assert serve.parse_range(header, size) == expected


def test_full_download_over_tls(server, dev_tls, repo):
    status, headers, body = get(server, dev_tls, TARGET)
    assert status == 200
    assert body == repo[1]
    assert headers["Content-Length"] == str(BIG)
    assert headers["Accept-Ranges"] == "bytes"


def test_range_gives_206_with_content_range(server, dev_tls, repo):
    big = repo[1]
    status, headers, body = get(server, dev_tls, TARGET, {"Range": "bytes=1000-1999"})
    assert (status, body) == (206, big[1000:2000])
    assert headers["Content-Range"] == "bytes 1000-1999/%d" % BIG
    status, headers, body = get(server, dev_tls, TARGET, {"Range": "bytes=%d-" % (BIG - 5)})
    assert (status, body) == (206, big[-5:])
    status, headers, body = get(server, dev_tls, TARGET, {"Range": "bytes=-7"})
    assert (status, body) == (206, big[-7:])


def test_unsatisfiable_range_gives_416(server, dev_tls):
    status, headers, body = get(server, dev_tls, TARGET, {"Range": "bytes=%d-" % BIG})
    assert status == 416
    assert headers["Content-Range"] == "bytes */%d" % BIG
    assert body == b""


def test_if_range_with_another_version_sends_everything(server, dev_tls, repo):
    _, headers, _ = get(server, dev_tls, TARGET, method="HEAD")
    status, _, body = get(server, dev_tls, TARGET, {"Range": "bytes=10-19", "If-Range": headers["ETag"]})
    assert (status, body) == (206, repo[1][10:20])
    status, _, body = get(server, dev_tls, TARGET, {"Range": "bytes=10-19", "If-Range": '"other"'})
    assert (status, len(body)) == (200, BIG)


def test_head_sends_headers_only(server, dev_tls):
    status, headers, body = get(server, dev_tls, TARGET, method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(BIG))


@pytest.mark.parametrize(
    "path",
    [
        "/repo-settings.json",  # in the repository directory but not under metadata/ or targets/
        "/metadata/.timestamp.json.123.tmp",  # a write in progress
        "/metadata/",
        "/targets/board",
        "/targets/../repo-settings.json",
        "/targets/%2e%2e/repo-settings.json",
        "/metadata/escape.json",
        "/",
        "/metadata/missing.json",
    ],
)
def test_only_repository_files_are_served(server, dev_tls, repo, path):
    outside = repo[0].parent / ("outside-" + repo[0].name)
    outside.write_text("secret")
    (repo[0] / "metadata" / "escape.json").symlink_to(outside)
    status, _, body = get(server, dev_tls, path)
    assert status == 404
    assert b"secret" not in body


def raw_request(server, dev_tls, head):
    """Send `head` as it is; the status code of the answer (None: the connection closed without one)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
        with client_context(dev_tls).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(head)
            answer = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
    return int(answer.split()[1]) if answer else None


@pytest.mark.parametrize("path", ["/metadata/%00", "/targets/board/stable/abc.1.mpb%00.txt", "/targets/%00/../x"])
def test_a_nul_in_the_path_gets_400(server, dev_tls, path):
    head = b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode()
    assert raw_request(server, dev_tls, head) == 400
    assert server.log_lines[-1].split()[3:5] == [path, "400"]


@pytest.mark.parametrize("spec,status", [
    ("9" * 5000 + "-", 416),  # starts past any end
    ("0-" + "9" * 5000, 206),  # ends past the end: up to the end
    ("-" + "9" * 5000, 206),  # the last "many" bytes: all of them
    ("0" * 5000 + "7-", 206),  # leading zeros are still a small number
])
def test_range_with_thousands_of_digits(server, dev_tls, repo, spec, status):
    got, headers, body = get(server, dev_tls, TARGET, {"Range": "bytes=" + spec})
    assert got == status
    if status == 206:
        first = 7 if spec.endswith("7-") else 0
        assert body == repo[1][first:] and headers["Content-Range"] == "bytes %d-%d/%d" % (first, BIG - 1, BIG)


def test_parse_range_of_huge_numbers_without_int():
    assert serve.parse_range("bytes=%s-" % ("1" * 5000), 10) == "unsatisfiable"
    assert serve.parse_range("bytes=3-%s" % ("1" * 5000), 10) == (3, 9)
    assert serve.parse_range("bytes=-%s" % ("1" * 5000), 10) == (0, 9)


def test_access_log_names_client_method_path_status_bytes(server, dev_tls):
    get(server, dev_tls, TARGET, {"Range": "bytes=0-99"})
    get(server, dev_tls, "/metadata/nothing.json")
    lines = server.log_lines
    assert len(lines) == 2
    when, client, method, path, status, size = lines[0].split()
    assert client.startswith("127.0.0.1:") and (method, path, status, size) == ("GET", TARGET, "206", "100")
    assert lines[1].split()[2:5] == ["GET", "/metadata/nothing.json", "404"]


def test_log_lines_cannot_be_forged_by_a_request_path(server, dev_tls):
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
        with client_context(dev_tls).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /metadata/x\x1b[2J%0aFAKE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
    assert len(server.log_lines) == 1
    assert "\x1b" not in server.log_lines[0] and "\n" not in server.log_lines[0]


def test_wrong_hostname_is_refused(server, dev_tls):
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
            client_context(dev_tls).wrap_socket(raw, server_hostname="updates.example.com")


def test_localhost_name_is_accepted(server, dev_tls, repo):
    status, _, body = get(server, dev_tls, "/metadata/timestamp.json", host="localhost")
    assert (status, body) == (200, b'{"signed":{}}')


def test_certificate_from_another_ca_is_refused(server, tmp_path):
    other = tls.ensure_dev_tls(tmp_path / "other-ca")
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
            ssl.create_default_context(cafile=str(other.ca_cert)).wrap_socket(raw, server_hostname="127.0.0.1")


def test_many_concurrent_clients(server, dev_tls, repo):
    results = []

    def fetch(i):
        start = i * 65536
        status, _, body = get(server, dev_tls, TARGET, {"Range": "bytes=%d-%d" % (start, start + 65535)})
        results.append((i, status, body == repo[1][start:start + 65536]))

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert sorted(results) == [(i, 206, True) for i in range(24)]


def test_stalled_and_trickling_clients_do_not_delay_others(server, dev_tls, repo):
    ctx = client_context(dev_tls)
    stalled = []
    # 1. TCP connected, never starts the TLS handshake.
    stalled.append(socket.create_connection(("127.0.0.1", server.port), timeout=WAIT))
    # 2. Handshake done, request trickled one byte at a time and never finished.
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    trickler = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    stalled.append(trickler)
    for b in b"GET " + TARGET.encode():
        trickler.send(bytes([b]))
    # 3. Asked for the big file, then stopped reading after the first bytes (small receive
    #    buffer, so the server's send blocks on this client).
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(WAIT)
    raw.connect(("127.0.0.1", server.port))
    reader = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    stalled.append(reader)
    reader.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % TARGET).encode())
    assert reader.recv(100)
    try:
        # Meanwhile a normal client downloads the whole file, twice, and gets it intact.
        for _ in range(2):
            status, _, body = get(server, dev_tls, TARGET)
            assert status == 200 and body == repo[1]
        # The stalled reader was still mid-response all that time: its line is not logged yet.
        # (A request is logged once its response is sent, so the client can hold the body first.)
        wait_for(lambda: sum(TARGET in line for line in server.log_lines) >= 2, "both downloads logged")
        assert sum(TARGET in line for line in server.log_lines) == 2
    finally:
        for s in stalled:
            s.close()


def test_stalled_client_is_dropped_after_the_timeout(repo, dev_tls):
    lines = []
    with serve.start_server(repo[0], ssl_context=tls.server_context(dev_tls), timeout=0.5, log=lines.append) as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=WAIT) as raw:
            assert raw.recv(10) == b""  # the server closed it: no handshake within 0.5 s
        deadline = time.monotonic() + WAIT
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "TLS handshake failed: timed out" in lines[0]


def wait_for(condition, what):
    """Poll `condition` every 10 ms for at most WAIT seconds."""
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("not within %d s: %s" % (WAIT, what))


def closed_by_server(sock):
    """True once the server has closed `sock` (it reads as the end of the stream, or fails)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def test_request_deadline_ends_trickling_and_stalled_handshakes(repo, dev_tls):
    # The read timeout (WAIT) never fires: one byte comes every 50 ms. The deadline does.
    lines = []
    with serve.start_server(repo[0], ssl_context=tls.server_context(dev_tls), timeout=WAIT, deadline=1.0,
                            log=lines.append) as s:
        silent = socket.create_connection(("127.0.0.1", s.port), timeout=WAIT)  # never handshakes
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=WAIT)
        try:
            trickler = client_context(dev_tls).wrap_socket(raw, server_hostname="127.0.0.1")
            start = time.monotonic()
            trickler.sendall(b"GET " + TARGET.encode() + b" HTTP/1.1\r\nX-Pad: ")
            for _ in range(int(WAIT / 0.05)):
                if closed_by_server(trickler):
                    break
                trickler.send(b"a")
                time.sleep(0.05)
            held = time.monotonic() - start
            assert closed_by_server(trickler) and 1.0 <= held < WAIT
            assert silent.recv(10) == b""
            wait_for(lambda: s.connections() == 0, "both connections closed")
        finally:
            silent.close()
            raw.close()
    assert sum("request deadline (1s) passed: connection closed" in line for line in lines) == 2
    assert any("TLS handshake failed" in line for line in lines)


def test_each_request_on_a_kept_alive_connection_gets_its_own_deadline(repo, dev_tls):
    with serve.start_server(repo[0], ssl_context=tls.server_context(dev_tls), timeout=WAIT, deadline=2.0,
                            log=lambda line: None) as s:
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=client_context(dev_tls), timeout=WAIT)
        try:
            for _ in range(3):  # 2.4 s in all on one connection, each request well inside 2 s
                conn.request("GET", "/metadata/timestamp.json")
                assert conn.getresponse().read() == b'{"signed":{}}'
                time.sleep(0.8)
        finally:
            conn.close()


def test_connections_over_the_cap_are_closed_at_once(repo, dev_tls):
    lines = []
    with serve.start_server(repo[0], ssl_context=tls.server_context(dev_tls), timeout=WAIT, max_connections=2,
                            log=lines.append) as s:
        held = [socket.create_connection(("127.0.0.1", s.port), timeout=WAIT) for _ in range(2)]
        try:
            wait_for(lambda: s.connections() == 2, "two connections served")
            with socket.create_connection(("127.0.0.1", s.port), timeout=WAIT) as extra:
                assert extra.recv(10) == b""  # closed before any TLS
            assert "refused: 2 connections open (max connections)" in lines[-1]
            held.pop().close()
            wait_for(lambda: s.connections() == 1, "a connection freed")
            status, _, body = get(s, dev_tls, "/metadata/timestamp.json")
            assert (status, body) == (200, b'{"signed":{}}')
        finally:
            for sock in held:
                sock.close()


def timed_downloads(server, dev_tls, repo, runs=3):
    """The fastest of `runs` whole downloads of TARGET, each checked intact, in seconds."""
    times = []
    for _ in range(runs):
        t = time.monotonic()
        status, _, body = get(server, dev_tls, TARGET)
        times.append(time.monotonic() - t)
        assert status == 200 and body == repo[1]
    return min(times)


def test_a_client_is_served_while_200_others_trickle(repo, dev_tls, record_property):
    """200 clients trickle never-ending requests (each holding a connection and a thread) while
    a normal client downloads the 4 MiB file: it gets it intact while all 200 are still
    connected, before their deadline. Its latency is measured and reported, not asserted."""
    deadline = 120.0
    lines = []
    baseline = threading.active_count()
    stop = threading.Event()
    tricklers = []
    with serve.start_server(repo[0], ssl_context=tls.server_context(dev_tls), timeout=WAIT, deadline=deadline,
                            log=lines.append) as s:
        alone = timed_downloads(s, dev_tls, repo)

        rounds = [0]

        def trickle():
            for _ in range(int(deadline / 0.05)):  # bounded; `stop` ends it long before
                for sock in tricklers:
                    sock.send(b"a")
                rounds[0] += 1
                if stop.wait(0.05):
                    return

        pump = threading.Thread(target=trickle)
        ctx = client_context(dev_tls)
        try:
            started = time.monotonic()
            for i in range(200):
                raw = socket.create_connection(("127.0.0.1", s.port), timeout=WAIT)
                tricklers.append(raw)  # closed in `finally` even if the handshake fails
                tricklers[i] = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
                tricklers[i].sendall(b"GET " + TARGET.encode() + b" HTTP/1.1\r\nX-Pad: ")
            wait_for(lambda: s.connections() == 200, "200 trickling connections served")
            pump.start()
            wait_for(lambda: rounds[0] > 0, "the trickle started")
            before = rounds[0]
            crowded = timed_downloads(s, dev_tls, repo)
            during = rounds[0] - before
            assert s.connections() >= 200 and pump.is_alive()  # the trickle went on all along
            stop.set()
            pump.join(WAIT)
            # All 200 are still connected (each socket is used by one thread at a time, so only
            # now that the pump has stopped), and their deadline has not come.
            assert not any(closed_by_server(sock) for sock in tricklers)
            assert time.monotonic() - started < deadline
            assert not any("deadline" in line or "refused" in line for line in lines)
        finally:
            stop.set()
            if pump.is_alive():
                pump.join(WAIT)
            for sock in tricklers:
                sock.close()
        wait_for(lambda: s.connections() == 0, "every trickling connection closed")
    wait_for(lambda: threading.active_count() <= baseline, "every server thread ended")
    record_property("latency_alone_s", round(alone, 3))
    record_property("latency_with_200_trickling_s", round(crowded, 3))
    print("4 MiB download (best of 3): %.3f s alone, %.3f s while 200 clients trickle (%.2fx; %d rounds of 200 bytes meanwhile)"
          % (alone, crowded, crowded / alone, during))


def test_client_certificate_required(repo, dev_tls, tmp_path):
    cert, key = tmp_path / "dev.pem", tmp_path / "dev.key"
    tls.issue_client_cert(dev_tls, "device-1", cert, key)
    ctx_server = tls.server_context(dev_tls, client_ca=dev_tls.ca_cert)
    with serve.start_server(repo[0], ssl_context=ctx_server, timeout=WAIT, log=lambda line: None) as s:
        with_cert = client_context(dev_tls)
        with_cert.load_cert_chain(str(cert), str(key))
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=with_cert, timeout=WAIT)
        conn.request("GET", "/metadata/timestamp.json")
        assert conn.getresponse().status == 200
        conn.close()
        conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=client_context(dev_tls), timeout=WAIT)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            conn.request("GET", "/metadata/timestamp.json")
            conn.getresponse()
        conn.close()


def test_plain_http_mode(repo):
    with serve.start_server(repo[0], log=lambda line: None) as s:
        assert s.url.startswith("http://127.0.0.1:")
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=WAIT)
        conn.request("GET", "/metadata/timestamp.json")
        assert conn.getresponse().read() == b'{"signed":{}}'
        conn.close()


def test_not_a_repository(tmp_path):
    with pytest.raises(MpbootError, match="repo init"):
        serve.start_server(tmp_path)


def test_dev_tls_is_created_once_and_reissued_for_new_names(tmp_path):
    first = tls.ensure_dev_tls(tmp_path)
    assert first.created == [first.ca_cert, first.server_cert]
    assert oct(first.ca_key.stat().st_mode & 0o777) == "0o600"
    assert oct(first.server_key.stat().st_mode & 0o777) == "0o600"
    ca_pem = first.ca_cert.read_bytes()
    assert tls.ensure_dev_tls(tmp_path).created == []
    again = tls.ensure_dev_tls(tmp_path, ["updates.lan", "192.168.1.9"])
    assert again.created == [again.server_cert]
    assert again.ca_cert.read_bytes() == ca_pem  # devices keep trusting the same CA
    cert = x509.load_pem_x509_certificate(again.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "updates.lan"}
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1", "192.168.1.9"}
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))


def test_issue_server_cert_covers_exactly_its_names(tmp_path):
    dev = tls.ensure_dev_tls(tmp_path)
    cert_path, key_path = tmp_path / "other.pem", tmp_path / "other.key"
    tls.issue_server_cert(dev, ["Other.Example", "10.0.0.7"], cert_path, key_path)
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["other.example"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(dev.ca_cert.read_bytes()))
    with pytest.raises(MpbootError, match="not a host name"):
        tls.issue_server_cert(dev, ["bad name/x"], cert_path, key_path)
    with pytest.raises(MpbootError, match="at least one"):
        tls.issue_server_cert(dev, [], cert_path, key_path)


def test_dev_tls_refuses_bad_names_and_half_a_ca(tmp_path):
    with pytest.raises(MpbootError, match="not a host name"):
        tls.ensure_dev_tls(tmp_path, ["bad name/x"])
    dev = tls.ensure_dev_tls(tmp_path / "t")
    dev.ca_key.unlink()
    with pytest.raises(MpbootError, match="ca.key is missing"):
        tls.ensure_dev_tls(tmp_path / "t")


@pytest.mark.parametrize("args,match", [
    (["--port", "65536"], "--port must be from 0 to 65535"),
    (["--timeout", "0"], "--timeout must be more than 0 seconds"),
    (["--request-deadline", "-1"], "--request-deadline must be more than 0 seconds"),
    (["--max-connections", "0"], "--max-connections must be at least 1"),
    (["--tls-dir", "FILE"], "is a file (give a directory"),
    (["--client-ca", "missing.pem"], "client CA file not found: missing.pem"),
])
def test_cli_bad_options(repo, tmp_path, capsys, monkeypatch, args, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_bytes(b"")
    args = ["--tls-dir", str(tmp_path / "tls")] + args
    clihelp.fails(capsys, "serve", repo[0], *args, match=match)


def test_cli_serves_until_interrupted(repo, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpboot", "serve", str(repo[0]), "--port", "0", "--tls-dir", str(tmp_path / "tls"),
         "--max-connections", "7", "--request-deadline", "45"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("mpboot serve: https://127.0.0.1:"), first
        port = int(first.split("https://127.0.0.1:")[1].split("/")[0])
        banner = [proc.stdout.readline() for _ in range(9)]
        assert any(str(tmp_path / "tls" / "ca.pem") in line for line in banner)
        assert "limits: 7 connections at once, 45s per request, 30s without progress" in banner[-1]
        ctx = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
        conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=WAIT)
        conn.request("GET", "/metadata/timestamp.json")
        assert conn.getresponse().read() == b'{"signed":{}}'
        conn.close()
        log = proc.stdout.readline()
        assert "GET /metadata/timestamp.json 200 13" in log
    finally:
        proc.send_signal(2)
        proc.wait(WAIT)
    assert proc.returncode == 0
