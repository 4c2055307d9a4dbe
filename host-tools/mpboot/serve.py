"""The development update server: a repository's static files over HTTPS.

Only `metadata/`, `targets/` and `files/` (bundle files by SHA-256, `files/sha256/<hex>`) of the
repository are served; everything else in the directory
(settings, temporary files of an interrupted write, dotfiles) answers 404, as do paths that leave
the repository through `..` or a symlink. GET and HEAD, with single byte ranges (206, or 416 when
nothing of the file is in the range) so an interrupted download can resume.

Each connection gets its own thread, and the TLS handshake happens in that thread, not in the
accept loop: a client that stalls during the handshake, trickles its request or stops reading a
response holds only its own thread. Three limits bound what clients can hold:
- `timeout`: a connection with no progress for this many seconds is dropped (per read or write);
- `deadline`: each request, from the connection (or the end of the previous response on a
  kept-alive one) to the end of its response, TLS handshake included, must be done within this
  many seconds, or the connection is shut down; a client trickling a byte just inside each
  timeout cannot outlast it;
- `max_connections`: connections being served at once. At the cap a new connection is closed
  as soon as it is accepted, before any TLS or thread is spent on it (an HTTP 503 would need
  both); the client sees the connection closed and retries later (the device's fetcher does,
  with backoff). Every connection served ends within `deadline`, so the cap frees up.

`start_server(...)` runs it in-process (tests, the emulator) and returns a handle with the bound
port and `stop()`; `mpboot serve` is the command-line front end.
"""

import datetime
import email.utils
import os
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mpboot import __version__
from mpboot.errors import MpbootError

SERVED_DIRS = ("metadata", "targets", "files")
CHUNK = 64 * 1024
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 300.0  # a 4 MiB image at 14 KiB/s; a slower client resumes with a Range
DEFAULT_MAX_CONNECTIONS = 256
# More digits than any file size has: a range bound that long lies past every file's end (and
# int() refuses strings over 4300 digits).
_DIGITS = 18
# Metadata a client must see fresh; versioned and hash-prefixed files never change once written.
_MUTABLE = {"metadata/timestamp.json", "metadata/root.json"}


def parse_range(header, size):
    """The byte range a `Range` header asks for in a file of `size` bytes.

    Returns None to send the whole file (no header, a syntax the server ignores, or several
    ranges, which RFC 9110 lets a server answer with 200), "unsatisfiable" for 416, or an
    inclusive (first, last) pair."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if not dash or not (first or last) or not all(p.isascii() and p.isdigit() for p in (first, last) if p):
        return None
    if not first:  # suffix: the last N bytes
        n = _number(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1)
    start = _number(first)
    if last and _number(last) < start:
        return None  # an invalid range is ignored, not refused
    if start >= size:
        return "unsatisfiable"
    return (start, min(_number(last), size - 1) if last else size - 1)


def _number(digits):
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _DIGITS else 10**_DIGITS


class RunningServer:
    """A server started by `start_server`: `url`, `port`, `connections()`, `stop()`; also a
    context manager."""

    def __init__(self, httpd, thread, scheme):
        self._httpd = httpd
        self._thread = thread
        host, self.port = httpd.server_address[:2]
        self.host = host
        shown = "[%s]" % host if ":" in host else host
        self.url = "%s://%s:%d/" % (scheme, shown, self.port)

    def connections(self):
        """How many connections are being served (accepted and not yet closed)."""
        return self._httpd.connections()

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self._thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_server(repo_dir, host="127.0.0.1", port=0, ssl_context=None, timeout=DEFAULT_TIMEOUT, log=None,
                 deadline=DEFAULT_DEADLINE, max_connections=DEFAULT_MAX_CONNECTIONS):
    """Serve `repo_dir` in a background thread; HTTPS when `ssl_context` is given (see
    mpboot.tls), plain HTTP otherwise. `log` receives one access-log line per request."""
    httpd = make_server(repo_dir, host, port, ssl_context, timeout, log, deadline, max_connections)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="mpboot-serve", daemon=True)
    thread.start()
    return RunningServer(httpd, thread, "https" if ssl_context else "http")


def repository_root(repo_dir):
    """The absolute directory of the repository at `repo_dir`, or MpbootError if there is none."""
    root = Path(repo_dir).resolve()
    if not (root / "metadata").is_dir():
        raise MpbootError("not a repository: %s has no metadata/ directory (create one with `mpboot repo init %s`)" % (repo_dir, repo_dir))
    return root


def make_server(repo_dir, host, port, ssl_context, timeout, log, deadline=DEFAULT_DEADLINE,
                max_connections=DEFAULT_MAX_CONNECTIONS):
    root = repository_root(repo_dir)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return _Server(family, (host, port), root, ssl_context, timeout, log or _print_log, deadline, max_connections)
    except OSError as e:
        raise MpbootError("cannot listen on %s port %d: %s (choose another --port or --host)" % (host, port, e.strerror or e)) from None


def _print_log(line):
    print(line, flush=True)


class _Connection:
    """One connection being served: its socket (the TLS one once wrapped) and its deadline."""

    def __init__(self, sock, client, deadline):
        self.sock = sock
        self.client = client
        self.deadline = deadline
        self.expired = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, family, address, root, ssl_context, timeout, log, deadline, max_connections):
        self.address_family = family
        self.root = root
        self.ssl_context = ssl_context
        self.conn_timeout = timeout
        self.deadline = deadline
        self.max_connections = max_connections
        self.log = log
        self._open = {}  # accepted socket -> _Connection
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def connections(self):
        """How many connections are being served."""
        with self._open_lock:
            return len(self._open)

    def process_request(self, request, client_address):
        # In the accept loop: at the cap, close before a thread or a TLS handshake is spent.
        with self._open_lock:
            full = len(self._open) >= self.max_connections
            if not full:
                self._open[request] = _Connection(request, client_address, time.monotonic() + self.deadline)
        if full:
            self.log("%s %s refused: %d connections open (max connections)"
                     % (_stamp(), _client(client_address), self.max_connections))
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def finish_request(self, request, client_address):
        # Runs in the connection's own thread: the handshake and every read and write with this
        # client happen here, bounded by the timeout and the deadline, never in the accept loop.
        conn = self._open[request]
        try:
            request.settimeout(self.conn_timeout)
            if self.ssl_context is not None:
                try:
                    tls = self.ssl_context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
                    with self._open_lock:
                        conn.sock = tls  # the deadline must reach the handshake, on this socket
                    tls.do_handshake()
                except (OSError, ValueError) as e:
                    self.log("%s %s TLS handshake failed: %s" % (_stamp(), _client(client_address), _reason(e)))
                    return
            _Handler(conn, client_address, self)
        finally:
            self._forget(request)
            if conn.sock is not request:
                conn.sock.close()

    def service_actions(self):
        # In the accept loop, every poll interval: shutting a late connection down ends the
        # read or write its thread is blocked in.
        now = time.monotonic()
        with self._open_lock:
            late = [c for c in self._open.values() if not c.expired and c.deadline <= now]
            for conn in late:
                conn.expired = True
                _shutdown(conn.sock)
        for conn in late:
            self.log("%s %s request deadline (%gs) passed: connection closed" % (_stamp(), _client(conn.client), self.deadline))

    def handle_error(self, request, client_address):
        # A client that goes away is normal traffic, not a server fault: one line, no traceback.
        import sys

        self.log("%s %s connection error: %s" % (_stamp(), _client(client_address), _reason(sys.exc_info()[1])))

    def _forget(self, request):
        with self._open_lock:
            self._open.pop(request, None)

    def close_connections(self):
        with self._open_lock:
            for conn in self._open.values():
                _shutdown(conn.sock)


def _shutdown(sock):
    # The plain socket's shutdown, also under a TLS socket (whose own would drop its TLS state
    # under the thread still using it).
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mpboot-serve/" + __version__
    sys_version = ""

    def __init__(self, conn, client_address, server):
        self.conn = conn
        super().__init__(conn.sock, client_address, server)

    def setup(self):
        self.timeout = self.server.conn_timeout
        super().setup()

    def handle_one_request(self):
        self._status = None
        self._sent = 0
        self._note = ""
        try:
            super().handle_one_request()
        finally:
            # A kept-alive connection's next request gets a deadline of its own.
            self.conn.deadline = time.monotonic() + self.server.deadline
            if self._status is not None:
                self.server.log(
                    "%s %s %s %s %d %d%s"
                    % (_stamp(), _client(self.client_address), getattr(self, "command", None) or "-",
                       _printable(getattr(self, "path", "-")), self._status, self._sent, self._note)
                )

    def log_request(self, code="-", size="-"):
        self._status = int(getattr(code, "value", code))

    def log_message(self, format, *args):
        pass  # every request gets its access-log line from handle_one_request

    def send_error(self, code, message=None, explain=None):
        body = (("%d %s\n" % (code, message or self.responses.get(code, ("",))[0])).encode("ascii", "replace"))
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=ascii")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if getattr(self, "command", None) != "HEAD" and code >= 200 and code not in (204, 304):
            self._write(body)

    def do_GET(self):
        self._serve(body=True)

    def do_HEAD(self):
        self._serve(body=False)

    def _serve(self, body):
        try:
            path = self._local_path()
        except ValueError:  # a NUL byte: no file has one in its name
            self.send_error(400)
            return
        if path is None:
            self.send_error(404)
            return
        try:
            f = open(path, "rb")
        except OSError:
            self.send_error(404)
            return
        with f:
            st = os.fstat(f.fileno())
            size = st.st_size
            etag = '"%x-%x"' % (st.st_mtime_ns, size)
            wanted = parse_range(self.headers.get("Range"), size)
            if_range = self.headers.get("If-Range")
            if if_range is not None and if_range.strip() != etag:
                wanted = None  # the client's partial copy is of another version: send it all
            if wanted == "unsatisfiable":
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            first, last = wanted or (0, size - 1)
            length = last - first + 1 if size else 0
            self.send_response(206 if wanted else 200)
            self.send_header("Content-Type", "application/json" if path.suffix == ".json" else "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
            self.send_header("Cache-Control", "no-cache" if self._rel in _MUTABLE else "public, max-age=300")
            if wanted:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
            self.end_headers()
            if body:
                self._copy(f, first, length)

    def _local_path(self):
        """The file a request path names, or None when it is outside what is served."""
        raw = urllib.parse.urlsplit(self.path).path
        rel = urllib.parse.unquote(raw).lstrip("/")
        if "\0" in rel:
            raise ValueError("NUL in path")
        parts = rel.split("/")
        if parts[0] not in SERVED_DIRS or len(parts) < 2 or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        path = self.server.root.joinpath(*parts)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_file() or not real.is_relative_to(self.server.root / parts[0]):
            return None
        self._rel = "/".join(parts)
        return real

    def _copy(self, f, offset, length):
        f.seek(offset)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        remaining = length
        try:
            while remaining:
                n = f.readinto(view[: min(CHUNK, remaining)])
                if not n:
                    break  # the file shrank under us; the client sees a short body and retries
                self._write(view[:n])
                remaining -= n
        except OSError as e:
            self._note = " (request deadline passed)" if self.conn.expired else " (client gone: %s)" % _reason(e)
            self.close_connection = True

    def _write(self, data):
        self.wfile.write(data)
        self._sent += len(data)


def _stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _client(address):
    host, port = address[:2]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def _printable(text):
    # Request paths come from the network: never let one forge or break a log line.
    return "".join(c if " " < c < "\x7f" else "%%%02X" % ord(c) for c in text)[:300]


def _reason(exc):
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc.__class__.__name__
