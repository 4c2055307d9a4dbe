"""The emulated board's network: real TCP and real TLS on the host, for MicroPython code.

On the unix port the board uses the port's own sockets and mbedTLS; only its name resolution
comes here (`net.resolve`: the allowlist is applied there, and `connections` records it; see
mpylib/unix/socket.py). The WebAssembly MicroPython has neither `socket` nor `ssl`. The emulator installs
`mpylib/socket.py` and `mpylib/ssl.py` on the board; they forward every operation through
`_host.call("net.<op>", ...)` to a `NetHandler`, which keeps the real sockets, contexts and TLS
sessions (CPython's `socket` and `ssl`, i.e. OpenSSL) and answers with numbers, bytes copied
straight into the caller's buffer, or an error the MicroPython side raises.

What is real: TCP connections to real servers; the TLS handshake, certificate chain and host
name checks made by OpenSSL with exactly the CA data, client certificate and `server_hostname`
the device code supplied (a context verifies nothing until the device code asks for
CERT_REQUIRED, as MicroPython's `ssl` does); timeouts, non-blocking I/O and readiness polling.

What is not modelled: mbedtls itself (cipher suites, its own parsing quirks, memory use of a TLS
session on the device; OpenSSL's host name rules are RFC 6125's, mbedtls' are close but not
identical), Wi-Fi, DNS (names resolve only through `hosts`), UDP, listening sockets.

Safety: connections go only to addresses in `allow` (loopback by default: this workplace
forbids traffic elsewhere); a name is resolved only from `hosts`, "localhost" or an IP literal,
so no DNS query ever leaves the machine.

`NetHandler.handle(op, arg, body, n)` answers the ops whose names start with "net." and returns
`(value, reply_bytes)`, so a board handler can delegate to it; the handler is also callable
directly as a `MicroPython.run` handler.
"""

import errno
import ipaddress
import itertools
import os
import select
import socket
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import serialization

LOOPBACK = ("127.0.0.0/8", "::1/128")
PREFIX = "net."

_POLLIN = 1
_POLLOUT = 4
_POLLNVAL = 32
_CERT_NONE, _CERT_OPTIONAL, _CERT_REQUIRED = 0, 1, 2
_AF = {2: socket.AF_INET, 10: socket.AF_INET6}
# mbedtls error codes the device would see, so device code can tell them apart as on a board.
_TLS_EOF = -0x7280  # MBEDTLS_ERR_SSL_CONN_EOF: closed without close_notify
_TLS_ALERT = -0x7780  # MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: the peer refused the session
_TLS_OTHER = -0x7200  # MBEDTLS_ERR_SSL_INVALID_RECORD: anything else OpenSSL rejected
# MicroPython's own errno numbers (py/mperrno.h), whatever the host's are; a board's port may
# number them differently, which is why device code compares with errno.NAME.
_MP_ERRNO = {
    "EPERM": 1, "ENOENT": 2, "EIO": 5, "EBADF": 9, "EAGAIN": 11, "ENOMEM": 12, "EACCES": 13,
    "EINVAL": 22, "EOPNOTSUPP": 95, "EADDRINUSE": 98, "ECONNABORTED": 103, "ECONNRESET": 104,
    "ENOBUFS": 105, "ENOTCONN": 107, "ETIMEDOUT": 110, "ECONNREFUSED": 111, "EHOSTUNREACH": 113,
    "EALREADY": 114, "EINPROGRESS": 115,
    "EPIPE": 104, "EWOULDBLOCK": 11, "ENETUNREACH": 113, "EADDRNOTAVAIL": 113,
}
_WOULD_BLOCK = object()


class _Refused(Exception):
    """An operation failed; `answer` is what the MicroPython side raises ("kind code msg")."""

    def __init__(self, answer):
        super().__init__(answer)
        self.answer = answer


class _Conn:
    def __init__(self, sock, tls=False):
        self.sock = sock
        self.tls = tls
        self.handshaken = False
        self.want = 0  # the poll event the TLS layer waits for, after a would-block


class _Context:
    def __init__(self):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # MicroPython's ssl.SSLContext starts with verify_mode CERT_NONE: the device must opt in.
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE
        self.mode = _CERT_NONE


class NetHandler:
    """Host side of the emulated board's `socket` and `ssl` modules.

    allow: networks the board may connect to (loopback only by default).
    hosts: name -> IP address, the board's only name resolution (like /etc/hosts).
    poll_wait: seconds a readiness poll waits on the host before answering "not ready", so the
    MicroPython poll loop (which spins on this port) does not flood the bridge.
    """

    def __init__(self, allow=LOOPBACK, hosts=None, poll_wait=0.005):
        self.allow = tuple(ipaddress.ip_network(n) for n in allow)
        self.hosts = {k.lower(): str(ipaddress.ip_address(v)) for k, v in (hosts or {}).items()}
        self.poll_wait = poll_wait
        self.connections = []  # (address, port) of every connection made, for tests and logs
        self._handles = {}  # handle -> _Conn or _Context, as the board's objects know them
        self._ids = itertools.count(1)

    def owns(self, op):
        return op.startswith(PREFIX)

    def handle(self, op, arg, body, n):
        fn = _OPS.get(op)
        if fn is None:
            return _os_error("EOPNOTSUPP", op), b""
        try:
            answer = fn(self, (arg or "").split(" "), body, n)
        except _Refused as e:
            return e.answer, b""
        return answer if isinstance(answer, tuple) else (answer, b"")

    def __call__(self, op, arg, body, n):
        if not self.owns(op):
            raise RuntimeError("NetHandler: not a network op: %r" % op)
        return self.handle(op, arg, body, n)

    def close(self):
        """Close every socket (the board was reset or powered off)."""
        for obj in set(self._handles.values()):
            if isinstance(obj, _Conn):
                obj.sock.close()
        self._handles.clear()

    # -- names and sockets --------------------------------------------------------------------
    def _resolve(self, name):
        try:
            return str(ipaddress.ip_address(name))
        except ValueError:
            pass
        if name.lower() in self.hosts:
            return self.hosts[name.lower()]
        if name.lower() == "localhost":
            return "127.0.0.1"
        raise _Refused(_os_error(-2, "name or service not known: %s" % name))  # as lwip's

    def _getaddrinfo(self, args, body, n):
        addr = self._resolve(args[0]).encode()
        return len(addr), addr

    def _socket(self, args, body, n):
        af, kind = int(args[0]), int(args[1])
        if af not in _AF or kind != 1:
            raise _Refused(_os_error("EOPNOTSUPP", "only TCP is emulated"))
        return self._new(_Conn(socket.socket(_AF[af], socket.SOCK_STREAM)))

    def _new(self, obj):
        h = next(self._ids)
        self._handles[h] = obj
        return h

    def _get(self, h, kind):
        obj = self._handles.get(int(h))
        if not isinstance(obj, kind):
            raise _Refused(_os_error("EBADF", "closed socket" if kind is _Conn else "no such SSL context"))
        return obj

    def _settimeout(self, args, body, n):
        ms = int(args[1])
        self._get(args[0], _Conn).sock.settimeout(None if ms < 0 else ms / 1000)
        return 0

    def _connect(self, args, body, n):
        conn = self._get(args[0], _Conn)
        addr, port = self._allowed(args[1], args[2])
        _io(conn, lambda: conn.sock.connect((addr, port)))
        return 0

    def _allowed(self, name, port):
        """(address, port) to connect to, recorded in `connections`; EACCES outside `allow`."""
        addr, port = self._resolve(name), int(port)
        if not any(ipaddress.ip_address(addr) in net for net in self.allow):
            raise _Refused(_os_error("EACCES", "%s is outside the emulator's network allowlist" % addr))
        self.connections.append((addr, port))
        return addr, port

    def _resolve_allowed(self, args, body, n):
        # The unix port's getaddrinfo (mpylib/unix/socket.py): its own socket connects next.
        addr = self._allowed(args[0], args[1])[0].encode()
        return len(addr), addr

    def _close(self, args, body, n):
        conn = self._handles.get(int(args[0]))
        if isinstance(conn, _Conn):
            conn.sock.close()
            for h in [h for h, c in self._handles.items() if c is conn]:
                del self._handles[h]
        return 0

    # -- data ---------------------------------------------------------------------------------
    def _send(self, args, body, n):
        conn = self._get(args[0], _Conn)
        sent = _io(conn, lambda: conn.sock.send(body))
        return None if sent is _WOULD_BLOCK else sent

    def _recv(self, args, body, n):
        """mode 1: a stream read (fill `n` bytes unless at EOF or non-blocking); 0: one recv."""
        conn = self._get(args[0], _Conn)
        fill = args[1] == "1"
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            try:
                r = _io(conn, lambda: conn.sock.recv_into(view[got:]))
            except _Refused:
                if not got:
                    raise
                break  # the bytes read come first; the error (e.g. EOF) recurs on the next call
            if r is _WOULD_BLOCK:
                if not got:
                    return None
                break
            got += r
            if r == 0 or not fill:
                break
        return got, bytes(buf[:got])

    def _poll(self, args, body, n):
        conn = self._handles.get(int(args[0]))
        if not isinstance(conn, _Conn):
            return _POLLNVAL
        flags = int(args[1]) & (_POLLIN | _POLLOUT)
        if conn.tls and conn.want:
            # As mbedtls' ioctl: wait for what the TLS layer needs, report what was asked.
            return flags if _ready(conn.sock, conn.want, self.poll_wait) else 0
        if flags & _POLLIN and conn.tls and conn.sock.pending():
            return _POLLIN
        return _ready(conn.sock, flags, self.poll_wait)

    # -- TLS ----------------------------------------------------------------------------------
    def _ctx(self, args, body, n):
        return self._new(_Context())

    def _ctx_verify(self, args, body, n):
        c, mode = self._get(args[0], _Context), int(args[1])
        if mode == _CERT_REQUIRED:
            c.ctx.verify_mode = ssl.CERT_REQUIRED
            c.ctx.check_hostname = True  # mbedtls checks the name whenever it verifies
        elif mode == _CERT_NONE:
            c.ctx.check_hostname = False
            c.ctx.verify_mode = ssl.CERT_NONE
        else:
            raise _Refused(_value_error("CERT_OPTIONAL is not emulated (OpenSSL has no equivalent)"))
        c.mode = mode
        return 0

    def _ctx_ca(self, args, body, n):
        c = self._get(args[0], _Context)
        try:
            if b"-----BEGIN" in body:
                c.ctx.load_verify_locations(cadata=body.decode("ascii"))
            else:
                c.ctx.load_verify_locations(cadata=bytes(body))
        except (ssl.SSLError, ValueError, UnicodeDecodeError):
            raise _Refused(_value_error("invalid cert")) from None
        return 0

    def _ctx_cert(self, args, body, n):
        c, split = self._get(args[0], _Context), int(args[1])
        cert, key = _pem_cert(body[:split]), _pem_key(body[split:])
        with tempfile.TemporaryDirectory() as tmp:
            paths = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            for path, data in zip(paths, (cert, key)):
                with open(path, "wb") as f:
                    f.write(data)
            try:
                c.ctx.load_cert_chain(*paths)
            except ssl.SSLError:
                raise _Refused(_value_error("invalid key")) from None
        return 0

    def _wrap(self, args, body, n):
        c, conn = self._get(args[0], _Context), self._get(args[1], _Conn)
        handshake, hostname = args[2] == "1", (None if args[3] == "-" else args[3])
        if c.mode == _CERT_REQUIRED and hostname is None:
            raise _Refused(_value_error("CERT_REQUIRED requires server_hostname"))
        try:
            # suppress_ragged_eofs=False: a close without close_notify is an error, as in mbedtls.
            tls = c.ctx.wrap_socket(conn.sock, server_hostname=hostname, do_handshake_on_connect=False,
                                    suppress_ragged_eofs=False)
        except (OSError, ValueError) as e:
            raise _Refused(_answer(e)) from None
        new = _Conn(tls, tls=True)
        # The raw socket's handle now reaches the TLS session too (close, setblocking).
        for h in [h for h, x in self._handles.items() if x is conn]:
            self._handles[h] = new
        if handshake:
            self._handshake(new)
        return self._new(new)

    def _handshake(self, conn):
        """MicroPython's wrap_socket(do_handshake_on_connect=True) finishes the handshake even
        on a non-blocking socket."""
        while not conn.handshaken:
            if _io(conn, lambda: None) is _WOULD_BLOCK:
                _ready(conn.sock, conn.want, 0.05)


def _io(conn, op):
    """Run a socket operation; translate would-block and errors into MicroPython's terms."""
    try:
        if conn.tls and not conn.handshaken:
            conn.sock.do_handshake()
            conn.handshaken = True
        result = op()
    except ssl.SSLWantReadError:
        conn.want = _POLLIN
        return _WOULD_BLOCK
    except ssl.SSLWantWriteError:
        conn.want = _POLLOUT
        return _WOULD_BLOCK
    except BlockingIOError as e:
        if e.errno == errno.EINPROGRESS:
            raise _Refused(_os_error("EINPROGRESS", "in progress")) from None
        conn.want = 0
        return _WOULD_BLOCK
    except (OSError, ValueError) as e:
        raise _Refused(_answer(e)) from None
    conn.want = 0
    return result


def _ready(sock, flags, wait):
    try:
        r, w, _ = select.select([sock] if flags & _POLLIN else [], [sock] if flags & _POLLOUT else [], [], wait)
    except (OSError, ValueError):
        return _POLLNVAL
    return (_POLLIN if r else 0) | (_POLLOUT if w else 0)


def _answer(e):
    """The error MicroPython code on a board would get for this host exception."""
    if isinstance(e, ssl.SSLCertVerificationError):
        return _value_error(e.verify_message or e.reason or e)
    if isinstance(e, ssl.SSLEOFError):
        return _os_error(_TLS_EOF, "connection closed during TLS")
    if isinstance(e, ssl.SSLError):
        return _os_error(_TLS_ALERT if "ALERT" in (e.reason or "") else _TLS_OTHER, e.reason or e)
    if isinstance(e, TimeoutError):
        return _os_error("ETIMEDOUT", "timed out")
    if isinstance(e, ValueError):
        return _value_error(e)
    return _os_error(errno.errorcode.get(e.errno, "EIO"), e.strerror or e)


def _os_error(code, msg):
    """An answer the board raises as OSError(code, msg): `code` is an errno name, or a number
    (negative: lwip's or mbedtls' own codes, as on a board)."""
    return "OSError %d %s" % (_MP_ERRNO.get(code, 5) if isinstance(code, str) else code, msg)


def _value_error(msg):
    return "ValueError 0 %s" % msg


def _pem_cert(data):
    if b"-----BEGIN" in data:
        return bytes(data)
    try:
        return x509.load_der_x509_certificate(bytes(data)).public_bytes(serialization.Encoding.PEM)
    except ValueError:
        raise _Refused(_value_error("invalid cert")) from None


def _pem_key(data):
    if b"-----BEGIN" in data:
        return bytes(data)
    try:
        key = serialization.load_der_private_key(bytes(data), password=None)
    except (ValueError, TypeError):
        raise _Refused(_value_error("invalid key")) from None
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


_OPS = {
    PREFIX + "getaddrinfo": NetHandler._getaddrinfo,
    PREFIX + "resolve": NetHandler._resolve_allowed,
    PREFIX + "socket": NetHandler._socket,
    PREFIX + "settimeout": NetHandler._settimeout,
    PREFIX + "connect": NetHandler._connect,
    PREFIX + "close": NetHandler._close,
    PREFIX + "send": NetHandler._send,
    PREFIX + "recv": NetHandler._recv,
    PREFIX + "poll": NetHandler._poll,
    PREFIX + "ctx": NetHandler._ctx,
    PREFIX + "ctx_verify": NetHandler._ctx_verify,
    PREFIX + "ctx_ca": NetHandler._ctx_ca,
    PREFIX + "ctx_cert": NetHandler._ctx_cert,
    PREFIX + "wrap": NetHandler._wrap,
}
