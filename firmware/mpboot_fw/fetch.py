"""HTTPS downloads for the updater, on MicroPython's `socket` + `ssl` (and unchanged on CPython).

    f = Fetcher(ca_der)                      # the CA the device was provisioned with
    f.download(url, sink, length)            # exactly `length` bytes into sink, resuming
    n = f.fetch_into(url, buf)               # a small document (metadata), at most len(buf)

Every failure is a `FetchError` whose `reason` (args[0]) is a short word for the log:
"timeout", "too-slow", "too-long", "too-short", "http-404", "tls", "tls-cert", "redirect", ...

What a hostile server or network can and cannot do to the device:
- Impersonate the server: the certificate must chain to the provisioned CA and name the URL's
  host (`verify_mode = CERT_REQUIRED` and `server_hostname`; MicroPython's `ssl` verifies
  nothing unless told to).
- Endless data: the body never exceeds the caller's limit. A Content-Length or Content-Range
  beyond it is refused before the body is read; a body without a length is cut at the first
  byte past the limit; bytes a server sends past its own Content-Length are never read. Headers
  are capped at one block. Chunked and compressed encodings are refused: a plain static file
  needs neither, and each would be one more length to police.
- Slow retrieval: no byte for `timeout_ms` (connect, TLS handshake, request, any read) fails
  with "timeout"; fewer than `min_rate` bytes per second over each `window_ms` window fails
  with "too-slow". Sockets are non-blocking and waited on with `select.poll`, so a server that
  trickles a byte just before each read timeout still runs into the window check.
- Corrupt a resumed image: a resume asks for `Range: bytes=N-` and accepts a 206 only if its
  Content-Range starts at N and ends inside the expected length. A 200 (the server ignored the
  Range) restarts the sink from zero (`sink.reset()`), never appends (esp_https_ota once did).
- Redirects are refused ("redirect"): the update URL is configured, a redirect would only move
  the trust decision to a host nobody configured.
- Retries are bounded: at most `retries` failed attempts in a row without progress, each after
  an exponential backoff, and at most `attempts` requests in all.
- Truncate a body: a body without Content-Length ends only at a TLS close_notify; a TCP close
  without one (anyone on the path can send a FIN) is "closed", on both runtimes.

The sink gets the body in blocks of `block` bytes as a memoryview into one reused buffer: it
must consume the data before returning. In a download only the file's last block (at
`length`) may be shorter: a body that ends cleanly mid-block before `length` (a clean close
where there was no Content-Length, a 206 covering less than the rest) may be a cut, so its
partial block is dropped and the resume starts at the last whole block. Resumes therefore
start at a multiple of `block`, and a flash writer behind the sink only ever sees whole blocks.
"""

import select
import socket
import ssl
import sys
import time

try:
    from micropython import const
except ImportError:
    const = lambda x: x  # noqa: E731

BLOCK = const(4096)
_POLLIN = const(1)
_POLLOUT = const(4)
_MAX_BACKOFF_MS = const(60000)
_MBEDTLS_CONN_EOF = const(-0x7280)  # the peer closed without a TLS close_notify
_MBEDTLS_CERT_VERIFY_FAILED = const(-0x2700)  # raised instead of ValueError when no detail fits
# Connection: close: one request per connection, so a body ends at its length or at the close.
_REQUEST = "GET %s HTTP/1.1\r\nHost: %s\r\n%s%sUser-Agent: mpboot\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
_RETRYABLE = ("timeout", "too-slow", "closed", "connect", "refused", "dns", "http-408", "http-429")


class FetchError(Exception):
    """A download failed; `reason` is a short word for the persistent log."""

    @property
    def reason(self):
        return self.args[0]


# -- the two runtimes -------------------------------------------------------------------------
# MicroPython streams: readinto/write return None when they would block, mbedtls does the TLS
# handshake inside the first write, verification failures are ValueError, other TLS errors
# OSError with a negative mbedtls code. CPython: recv_into/send raise on would-block and the
# handshake is an explicit call.
if sys.implementation.name == "micropython":
    import errno

    def _recv(s, mv):
        return s.readinto(mv)

    def _send(s, mv):
        return s.write(mv)

    def _handshake(s):
        return 0

    def _wrap(ctx, raw, host):
        return ctx.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)

    def _why(e, default):
        n = e.errno if isinstance(e, OSError) else None
        if isinstance(e, ValueError) or n == _MBEDTLS_CERT_VERIFY_FAILED:
            return "tls-cert"
        if n == errno.ETIMEDOUT:
            return "timeout"
        if n == errno.ECONNREFUSED:
            return "refused"
        if n is not None and n <= -256 and n != _MBEDTLS_CONN_EOF:
            return "tls"
        return default

    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff
    _sleep_ms = time.sleep_ms
else:
    _WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

    def _recv(s, mv):
        try:
            return s.recv_into(mv)
        except _WOULD_BLOCK:
            return None

    def _send(s, mv):
        try:
            return s.send(mv)
        except _WOULD_BLOCK:
            return None

    def _wrap(ctx, raw, host):
        # A close without close_notify is an error, as in mbedtls: whoever can inject a TCP
        # FIN must not be able to end a body of unknown length early.
        return ctx.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False,
                               suppress_ragged_eofs=False)

    def _handshake(s):
        """0 when done, else the poll event to wait for."""
        try:
            s.do_handshake()
            return 0
        except ssl.SSLWantReadError:
            return _POLLIN
        except ssl.SSLWantWriteError:
            return _POLLOUT

    def _why(e, default):
        if isinstance(e, ValueError):  # ssl.SSLCertVerificationError is one, as on MicroPython
            return "tls-cert"
        if isinstance(e, TimeoutError):
            return "timeout"
        if isinstance(e, ConnectionRefusedError):
            return "refused"
        if isinstance(e, ssl.SSLError) and not isinstance(e, ssl.SSLEOFError):
            return "tls"
        return default

    def _ticks_ms():
        return time.monotonic_ns() // 1000000

    def _ticks_diff(a, b):
        return a - b

    def _sleep_ms(ms):
        time.sleep(ms / 1000)


class Fetcher:
    """Settings and the one buffer shared by every request of an update check.

    ca: the CA certificate(s) the device trusts (DER bytes, or PEM). cert/key: paths of a PEM
    client certificate and key, for servers that authenticate devices; token: a bearer token
    sent as `Authorization: Bearer ...` instead (or as well). sleep_ms: injected by tests.
    buf: the block buffer, a bytearray of `block` bytes (None: made here). A caller that makes
    it first, before this module is imported and the TLS context made, has it where the
    collector still has room: their survivors leave holes too small for 4 KiB in one block.
    """

    def __init__(self, ca, cert=None, key=None, token=None, block=BLOCK, timeout_ms=15000,
                 min_rate=1024, window_ms=10000, retries=4, attempts=20, backoff_ms=1000,
                 sleep_ms=None, buf=None):
        if token is not None and not _header_safe(token):
            raise ValueError("token")
        if buf is not None and len(buf) != block:
            raise ValueError("buf")
        self._ctx = _client_context(ca, cert, key)
        self._auth = "" if token is None else "Authorization: Bearer " + token + "\r\n"
        self._buf = bytearray(block) if buf is None else buf
        self._mv = memoryview(self._buf)
        self.timeout_ms = timeout_ms
        self.min_rate = min_rate
        self.window_ms = window_ms
        self.retries = retries
        self.attempts = attempts
        self.backoff_ms = backoff_ms
        self._sleep = sleep_ms or _sleep_ms
        self._s = None
        self.got = 0  # body bytes the sink has accepted (a download's resume point)
        self._moved = 0  # bytes delivered by the current request (progress, for retries)

    # -- public -------------------------------------------------------------------------------
    def download(self, url, sink, length):
        """Stream exactly `length` bytes of `url` into `sink`, resuming after interruptions.

        `sink.write(mv)` takes each block; `sink.reset()` is called when the server answers a
        resume with the whole file, and the sink must then start over from byte 0."""
        self.got = 0
        self._retrying(url, sink, length, True)
        return length

    def fetch_into(self, url, buf, limit=None):
        """Fetch a small document into the bytearray `buf`; returns its length. A document
        longer than `limit` (default: all of `buf`) fails with "too-long". Each attempt starts
        from the beginning: a metadata file may change between attempts."""
        sink = _Into(buf)
        self._retrying(url, sink, len(buf) if limit is None else min(limit, len(buf)), False)
        return sink.n

    def get(self, url, sink, limit, offset=0, exact=False):
        """One GET of `url` from byte `offset` (a Range request when not 0), with no retry.

        Accepts no body extending past `limit` bytes; with `exact`, the resource must be
        `limit` bytes long, and a short block reaches the sink only as its last (see _body).
        Returns the position reached (`self.got`). May call `sink.reset()` and start from 0
        (see `download`)."""
        host, port, path = _split_url(url)
        self.got = offset
        self._open(host, port)
        try:
            self._send_all(_REQUEST % (path, _host_header(host, port),
                                       "Range: bytes=%d-\r\n" % offset if offset else "", self._auth))
            head, end = self._read_head()
            body = self._check_head(head, sink, limit, exact)
            self._body(sink, head, end, body, limit, exact)
        finally:
            self._close()
        return self.got

    # -- pull form: a reader, for a consumer that reads with readinto ---------------------------
    def open(self, url, length):
        """Start reading `url`, a file of exactly `length` bytes, as a stream: readinto(mv)
        then gives its next bytes (0 once all `length` are read), close() ends the connection.
        For a consumer that pulls (bundle.verify_stream reads an OTA bundle install's stream),
        under the same policing as download(): no body longer than `length` (a longer
        Content-Length or Content-Range is refused before the body; a body without a length is
        read one byte past it by `close(check=True)`, "too-long"), timeouts, the minimum rate.
        An interrupted body resumes with `Range: bytes=N-` from exactly the bytes delivered,
        with download()'s bounds on retries; a 200 to a resume is "range-ignored" (what was
        delivered cannot be taken back)."""
        self._url = url
        self._length = length
        self.got = 0
        self._tries = 0
        self._stalled = 0
        self._delay = self.backoff_ms
        self._resume(None)

    def readinto(self, mv):
        """Up to len(mv) next bytes of the file opened by open() into `mv`; 0 at its end."""
        while True:
            try:
                return self._pull(mv)
            except FetchError as e:
                self._close()
                self._resume(e)

    def close(self, check=False):
        """End the reader's connection. With `check` (all `length` bytes read), first make sure
        a body without Content-Length ends there: one byte more is "too-long"."""
        try:
            if check and self._left > 0 and self._s is not None:
                if self._lo < self._hi or self._recv(self._mv[:1]):
                    raise FetchError("too-long")
        finally:
            self._close()

    def _pull(self, mv):
        n = min(len(mv), self._length - self.got)
        if n <= 0:
            return 0
        if self._left <= 0:
            raise FetchError("closed")  # a 206 that covered less than the rest: ask for the rest
        if self._lo < self._hi:  # body bytes that came with the headers
            n = min(n, self._hi - self._lo)
            mv[:n] = self._mv[self._lo:self._lo + n]
            self._lo += n
        else:
            n = self._recv(mv[:n])
            if n == 0:
                raise FetchError("closed")  # before `length`: a cut, resumed
        self.got += n
        self._moved += n
        self._left -= n
        return n

    def _resume(self, error):
        """(Re)open the reader's request from byte `got`; with `error` (the attempt before it
        failed), under download()'s bounds: only retryable reasons, at most `retries` attempts
        in a row without progress and `attempts` in all, with backoff."""
        while True:
            if error is not None:
                if error.args[0] not in _RETRYABLE and error.args[0][:6] != "http-5":
                    raise error
                if self._moved:
                    self._stalled = 0
                    self._delay = self.backoff_ms
                else:
                    self._stalled += 1
                if self._stalled > self.retries or self._tries >= self.attempts:
                    raise error
                self._sleep(self._delay)
                self._delay = min(self._delay * 2, _MAX_BACKOFF_MS)
            self._tries += 1
            try:
                return self._request()
            except FetchError as e:
                self._close()
                error = e

    def _request(self):
        host, port, path = _split_url(self._url)
        offset = self.got
        self._open(host, port)
        self._send_all(_REQUEST % (path, _host_header(host, port),
                                   "Range: bytes=%d-\r\n" % offset if offset else "", self._auth))
        head, end = self._read_head()
        clen = self._check_head(head, None, self._length, True)  # no sink: a 200 to a Range fails
        # _left: body bytes the response may still carry; bytes a server sends past its
        # Content-Length are never delivered. Without one, one byte past the length, which
        # close(check=True) looks for ("too-long").
        self._left = (self._length - offset + 1) if clen is None else clen
        self._lo, self._hi = head, head + min(end - head, self._left)

    # -- retries ------------------------------------------------------------------------------
    def _retrying(self, url, sink, limit, resume):
        stalled = 0
        delay = self.backoff_ms
        error = None
        for _ in range(self.attempts):
            start = self.got if resume else 0
            if not resume:
                sink.reset()
            try:
                if self.get(url, sink, limit, start, resume) == limit or not resume:
                    return
                error = None  # a complete response that stopped short of the end: go on
            except FetchError as e:
                if e.args[0] not in _RETRYABLE and e.args[0][:6] != "http-5":
                    raise
                error = e
            if self._moved:
                stalled = 0
                delay = self.backoff_ms
            else:
                stalled += 1
                if stalled > self.retries:
                    break
            if error is not None:
                self._sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_MS)
        raise error or FetchError("closed")

    # -- connection ---------------------------------------------------------------------------
    def _open(self, host, port):
        self._moved = 0
        try:
            ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        except OSError:
            raise FetchError("dns")
        raw = socket.socket(ai[0], ai[1], ai[2])
        now = _ticks_ms()
        self._last = now  # last byte received (or the start)
        self._wstart = now  # start of the current rate window
        self._wbytes = 0
        try:
            raw.settimeout(self.timeout_ms / 1000)
            raw.connect(ai[-1])
            raw.setblocking(False)
            self._s = _wrap(self._ctx, raw, host)
        except (OSError, ValueError) as e:
            raw.close()
            raise FetchError(_why(e, "connect"))
        self._poll = select.poll()
        self._poll.register(self._s, _POLLIN)
        try:
            while True:
                want = _handshake(self._s)
                if not want:
                    break
                self._wait(want)
        except (OSError, ValueError) as e:
            self._close()
            raise FetchError(_why(e, "closed"))

    def _close(self):
        if self._s is not None:
            try:
                self._s.close()
            except OSError:
                pass
            self._s = None
            self._poll = None

    def _wait(self, event):
        """Wait until the socket is ready for `event`, enforcing the timeout and the rate."""
        now = _ticks_ms()
        idle = _ticks_diff(now, self._last)
        if idle >= self.timeout_ms:
            raise FetchError("timeout")
        self._check_rate(now)
        left = self.window_ms - _ticks_diff(now, self._wstart)
        self._poll.modify(self._s, event)
        self._poll.poll(max(1, min(self.timeout_ms - idle, left)))

    def _check_rate(self, now):
        spent = _ticks_diff(now, self._wstart)
        if spent >= self.window_ms:
            if self._wbytes * 1000 < self.min_rate * spent:
                raise FetchError("too-slow")
            self._wstart = now
            self._wbytes = 0

    def _send_all(self, text):
        mv = memoryview(text.encode())
        sent = 0
        while sent < len(mv):
            try:
                n = _send(self._s, mv[sent:])
            except (OSError, ValueError) as e:
                raise FetchError(_why(e, "closed"))
            if n is None:
                self._wait(_POLLOUT)
            else:
                sent += n

    def _recv(self, mv):
        """Read what is available into `mv` (at least one byte; 0 at the end of the stream)."""
        while True:
            try:
                n = _recv(self._s, mv)
            except (OSError, ValueError) as e:
                raise FetchError(_why(e, "closed"))
            if n is None:
                self._wait(_POLLIN)
                continue
            now = _ticks_ms()
            if n:
                self._last = now
                self._wbytes += n
            self._check_rate(now)
            return n

    # -- HTTP ---------------------------------------------------------------------------------
    def _read_head(self):
        """Read the status line and headers into the buffer: (head length, bytes read)."""
        buf = self._buf
        end = 0
        while True:
            if end == len(buf):
                raise FetchError("bad-response")  # headers larger than a block
            n = self._recv(self._mv[end:])
            if n == 0:
                raise FetchError("closed")
            i = buf.find(b"\r\n\r\n", max(0, end - 3), end + n)
            end += n
            if i >= 0:
                return i + 4, end

    def _check_head(self, head, sink, limit, exact):
        """Validate status and length headers; returns the body length (None: until close)."""
        buf = self._buf
        if buf[:7] != b"HTTP/1." or buf[8] != 32 or buf[12] not in (32, 13):
            raise FetchError("bad-response")
        status = _num(buf[9:12])
        clen = crange = None
        i = buf.find(b"\r\n") + 2
        while i < head - 2:
            j = buf.find(b"\r\n", i, head)
            colon = buf.find(b":", i, j)
            if colon <= i or buf[i] in (32, 9):  # no name, or an obsolete folded line
                raise FetchError("bad-response")
            name = bytes(buf[i:colon]).lower()
            value = bytes(buf[colon + 1:j]).strip()
            if name == b"content-length":
                if clen is not None:
                    raise FetchError("bad-response")
                clen = _num(value)
            elif name == b"content-range":
                crange = value
            elif name == b"transfer-encoding":
                raise FetchError("chunked")
            elif name == b"content-encoding" and value.lower() != b"identity":
                raise FetchError("encoding")
            i = j + 2
        start = self.got
        if status == 206:
            if not start:
                raise FetchError("bad-range")  # a range nobody asked for
            clen, total = _content_range(crange, start, clen)
        elif status == 200:
            if start:
                # The server ignored the Range: what follows is the file from byte 0.
                if not hasattr(sink, "reset"):
                    raise FetchError("range-ignored")
                sink.reset()
                self.got = start = 0
            total = clen
        elif 300 <= status < 400:
            raise FetchError("redirect")
        else:
            raise FetchError("http-%d" % status)
        if total is not None:
            if total > limit:
                raise FetchError("too-long")
            if exact and total < limit:
                raise FetchError("too-short")
        return clen

    def _body(self, sink, head, end, clen, limit, exact):
        """Stream the body into the sink in whole blocks; never read past its length or the
        limit (a body of unknown length may run one byte over, which fails it).

        With `exact`, a short block is delivered only when it ends the resource at `limit`.
        A body may end cleanly before that (a close-delimited body cut by a clean close, a
        206 covering less than the rest): its partial block is dropped, so the resume starts
        at a block boundary and asks for those bytes again."""
        buf = self._buf
        mv = self._mv
        blk = len(buf)
        want = (limit - self.got + 1) if clen is None else clen
        pos = min(end - head, want)
        # Move the body bytes that came with the headers to the front. Byte by byte: slice
        # assignment is a memcpy in MicroPython, undefined for overlapping ranges.
        for k in range(pos):
            buf[k] = buf[head + k]
        got = pos
        while got < want:
            if pos == blk:
                self._deliver(sink, mv, blk)
                pos = 0
            n = self._recv(mv[pos:pos + min(blk - pos, want - got)])
            if n == 0:
                if clen is not None:
                    raise FetchError("closed")
                break
            pos += n
            got += n
        if self.got + pos > limit:
            raise FetchError("too-long")
        if pos == blk or pos and not (exact and self.got + pos < limit):
            self._deliver(sink, mv if pos == blk else mv[:pos], pos)

    def _deliver(self, sink, data, n):
        sink.write(data)
        self.got += n
        self._moved += n


class _Into:
    """A sink that fills a caller's bytearray."""

    def __init__(self, buf):
        self.buf = buf
        self.n = 0

    def write(self, mv):
        n = len(mv)
        self.buf[self.n:self.n + n] = mv
        self.n += n

    def reset(self):
        self.n = 0


def _client_context(ca, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # MicroPython's SSLContext verifies nothing by default; CPython's already requires this.
    ctx.verify_mode = ssl.CERT_REQUIRED
    if isinstance(ca, (bytes, bytearray)) and ca[:5] == b"-----":
        ca = ca.decode()  # PEM is text for both runtimes (CPython takes bytes only as DER)
    ctx.load_verify_locations(cadata=ca)
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def _split_url(url):
    """(host, port, path) of an https URL; anything else fails with "url" or "scheme"."""
    if url[:8] != "https://":
        raise FetchError("scheme")
    rest = url[8:]
    if not _header_safe(rest) or " " in rest or "#" in rest:
        raise FetchError("url")
    i = rest.find("/")
    authority, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    if authority[:1] == "[":  # an IPv6 literal
        i = authority.find("]")
        if i < 0:
            raise FetchError("url")
        host, port = authority[1:i], authority[i + 1:]
    else:
        host, _, port = authority.partition(":")
        port = ":" + port if port or authority[-1:] == ":" else ""
    if not host or "@" in authority or "[" in host or "]" in host:
        raise FetchError("url")
    if not port:
        return host, 443, path
    try:
        if port[0] != ":":
            raise FetchError("url")
        port = _num(port[1:].encode())
    except FetchError:
        raise FetchError("url")
    if not 0 < port < 65536:
        raise FetchError("url")
    return host, port, path


def _host_header(host, port):
    if ":" in host:
        host = "[" + host + "]"
    return host if port == 443 else "%s:%d" % (host, port)


def _header_safe(text):
    for c in text:
        if c < " " or c > "~":
            return False
    return True


def _num(digits):
    """A non-negative decimal number: digits only (no sign, space or '_' that int() allows)."""
    if not digits or len(digits) > 15:
        raise FetchError("bad-response")
    v = 0
    for c in digits:
        if c < 48 or c > 57:
            raise FetchError("bad-response")
        v = v * 10 + c - 48
    return v


def _content_range(value, start, clen):
    """(body length, complete length) of a 206 from `Content-Range: bytes first-last/complete`,
    after checking that it is the range asked for."""
    if value is None or value[:6] != b"bytes ":
        raise FetchError("bad-range")
    span, _, total = value[6:].partition(b"/")
    first, _, last = span.partition(b"-")
    first, last, total = _num(first), _num(last), _num(total)
    if first != start or last < first or last >= total:
        raise FetchError("bad-range")
    if clen is not None and clen != last + 1 - first:
        raise FetchError("bad-range")
    return last + 1 - first, total
