"""Test fixture: certificates, and an HTTPS server on 127.0.0.1 that misbehaves on request.

`make_pki(dir)` makes the development CA of mpboot.tls and, signed by it, a server certificate
for localhost / updates.example.test / 127.0.0.1 / ::1, one for another name only, and a client
certificate; plus a second, unknown CA with a server certificate for the right names.

`HttpsServer` serves `files` (path -> bytes) with single `Range: bytes=N-` requests, one thread
per connection. Each request takes the next entry of `plan` (a list of `Behaviour`, then the
default) so a test scripts what the server does: cut the connection after N body bytes, ignore
the Range, lie about the length, send endless data, trickle, stall, answer a given status.
It records each request (`requests`). A response ends after `max_time` seconds at most, so a
client that fails to give up on a trickle or a stall fails its test instead of hanging it.
"""

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mpboot import tls

# The development CA's server certificate covers localhost, 127.0.0.1 and ::1 besides these.
EXTRA_SERVER_NAMES = ("updates.example.test",)


@dataclass
class Pki:
    directory: Path
    ca_der: bytes
    ca_pem: Path

    def pair(self, name):
        """(certificate path, key path) of `name`: server, wrong-name, rogue, client."""
        return str(self.directory / (name + ".pem")), str(self.directory / (name + ".key"))


def make_pki(directory):
    """The product's development CA (mpboot.tls) with its server certificate, plus the odd ones
    a client must refuse or present: a certificate of that CA for another name only, one for the
    right names from an unknown CA, and a client certificate."""
    directory = Path(directory)
    ca = tls.ensure_dev_tls(directory, EXTRA_SERVER_NAMES)  # ca.pem/.key, server.pem/.key
    tls.issue_server_cert(ca, ["other.example.test"], directory / "wrong-name.pem", directory / "wrong-name.key")
    tls.issue_client_cert(ca, "device-0001", directory / "client.pem", directory / "client.key")
    rogue = tls.ensure_dev_tls(directory / "unknown-ca", EXTRA_SERVER_NAMES)
    tls.issue_server_cert(rogue, rogue.names, directory / "rogue.pem", directory / "rogue.key")
    ca_der = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    return Pki(directory, ca_der, ca.ca_cert)


@dataclass
class Behaviour:
    """What the server does for one request (defaults: a correct answer)."""

    status: int = None  # answer this status with a short body instead of the file
    ignore_range: bool = False  # answer a Range request with 200 and the whole file
    cut: int = None  # close the connection after this many body bytes
    clean_cut: bool = False  # end a cut with a TLS close_notify: a clean end, not a dropped one
    length: object = "auto"  # Content-Length to claim: "auto", a number, or None (omit)
    content_range: str = None  # Content-Range to claim instead of the true one
    extra: int = 0  # bytes to send after the body (beyond the claimed length)
    endless: bool = False  # after the body, send data until the client goes away
    rate: int = None  # body bytes per second (trickle), in pieces of `piece` bytes
    piece: int = 64
    delay: float = 0  # seconds before the status line
    stall: float = 0  # seconds between the headers and the body
    headers: list = field(default_factory=list)  # extra header lines
    head: bytes = None  # send these bytes as the whole response head
    slow_head: bool = False  # trickle the head too, at `rate`
    max_time: float = 5  # then drop the connection, so a client that fails to give up fails


class HttpsServer:
    def __init__(self, pki, files, cert="server", client_auth=False, token=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*pki.pair(cert))
        if client_auth:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(cafile=str(pki.ca_pem))
        self.files = dict(files)
        self.token = token
        self.plan = []
        self.default = Behaviour()
        self.requests = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def url(self, path, host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)

    def stop(self):
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(10)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                request = _read_request(tls)
                if request is None:
                    return
                b = self.plan.pop(0) if self.plan else self.default
                self.requests.append(request)
                self._respond(tls, request, b)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def _respond(self, tls, request, b):
        deadline = time.monotonic() + b.max_time
        time.sleep(b.delay)
        data = self.files.get(request["path"])
        start = request["range"]
        status, body, crange = 200, data, None
        if b.status is not None:
            status, body = b.status, b"no\n"
        elif data is None:
            status, body = 404, b"not found\n"
        elif self.token is not None and request.get("authorization") != "Bearer " + self.token:
            status, body = 401, b"unauthorized\n"
        elif start is not None and not b.ignore_range:
            if start >= len(data):
                status, body = 416, b""
            else:
                status, body = 206, data[start:]
                crange = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        head = b.head
        if head is None:
            lines = ["HTTP/1.1 %d X" % status, "Connection: close"]
            length = len(body) if b.length == "auto" else b.length
            if length is not None:
                lines.append("Content-Length: %d" % length)
            if b.content_range or crange:
                lines.append("Content-Range: " + (b.content_range or crange))
            head = ("\r\n".join(lines + b.headers) + "\r\n\r\n").encode()
        if b.slow_head:
            self._send(tls, head, b, deadline)
        else:
            tls.sendall(head)
        time.sleep(max(0, min(b.stall, deadline - time.monotonic())))
        body = body if b.cut is None else body[:b.cut]
        self._send(tls, body, b, deadline)
        self._send(tls, b"\xee" * b.extra, b, deadline)
        while b.endless and not self._stop.is_set():
            self._send(tls, b"\xee" * 4096, b, deadline)
        if b.cut is None or b.clean_cut:
            tls.unwrap()  # a clean end (close_notify); a cut just drops the connection

    def _send(self, tls, data, b, deadline):
        step = b.piece if b.rate else 16384
        for i in range(0, len(data), step):
            if self._stop.is_set() or time.monotonic() > deadline:
                raise OSError("server stopping or out of time")
            tls.sendall(data[i:i + step])
            if b.rate:
                time.sleep(step / b.rate)


def _read_request(tls):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = tls.recv(4096)
        if not chunk or len(head) > 16384:
            return None
        head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    rng = headers.get("range")
    start = None
    if rng:
        assert rng.startswith("bytes=") and rng.endswith("-"), rng
        start = int(rng[6:-1])
    return {"method": method, "path": path, "range": start, "headers": headers,
            "authorization": headers.get("authorization")}


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never says anything (a stalled handshake)."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]

    def url(self, path="/", host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)

    def stop(self):
        self._listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
