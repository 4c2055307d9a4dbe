"""`socket` for the emulated board: MicroPython's socket API over real host TCP sockets.

The WebAssembly MicroPython has no network. Each call here goes to the host's
`mpboot.emulator.net.NetHandler` through the board's host call (`_emu.call`), with buffers
passed by address (no copy through the JS proxy). The host reaches only the addresses its allowlist permits (loopback by
default) and resolves only names it was given.

Semantics follow MicroPython on an ESP32: `settimeout(None)` blocks, `0` is non-blocking,
`t` waits up to t seconds per operation; `readinto`/`read` fill the whole buffer unless the
socket is non-blocking (then they return what is there, or None), `write` returns None when it
would block, `recv`/`send` raise OSError(EAGAIN) instead; errors are OSError(errno).
Objects are `io.IOBase` streams, so `select.poll` works on them.
"""

import errno
import io

from _emu import call as _call

AF_INET = 2
AF_INET6 = 10
SOCK_STREAM = 1
SOCK_DGRAM = 2
IPPROTO_TCP = 6
SOL_SOCKET = 1
SO_REUSEADDR = 4

_STREAM_POLL = 3
_STREAM_CLOSE = 4


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    buf = bytearray(48)
    n = _call("net.getaddrinfo", "%s %d" % (host, port), buf)
    addr = bytes(buf[:n]).decode()
    return [(AF_INET6 if ":" in addr else AF_INET, SOCK_STREAM, IPPROTO_TCP, "", (addr, port))]


class socket(io.IOBase):
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=IPPROTO_TCP):
        self._h = _call("net.socket", "%d %d %d" % (af, type, proto))

    def settimeout(self, t):
        _call("net.settimeout", "%d %d" % (self._h, -1 if t is None else int(t * 1000)))

    def setblocking(self, flag):
        self.settimeout(None if flag else 0)

    def setsockopt(self, level, opt, value):
        pass  # nothing the emulated network models

    def connect(self, addr):
        _call("net.connect", "%d %s %d" % (self._h, addr[0], addr[1]))

    def write(self, buf):
        if not len(buf):
            return 0
        return _call("net.send", str(self._h), buf, 1)

    def send(self, buf):
        n = self.write(buf)
        if n is None:
            raise OSError(errno.EAGAIN)
        return n

    def sendall(self, buf):
        mv = memoryview(buf)
        sent = 0
        while sent < len(mv):
            sent += self.send(mv[sent:])

    def readinto(self, buf, n=None):
        if n is not None and n < len(buf):
            buf = memoryview(buf)[:n]
        return _call("net.recv", "%d 1" % self._h, buf) if len(buf) else 0

    def read(self, n=None):
        if n is None:
            return _read_all(self)
        buf = bytearray(n)
        got = self.readinto(buf)
        return None if got is None else bytes(buf[:got])

    def recv(self, n):
        buf = bytearray(n)
        got = _call("net.recv", "%d 0" % self._h, buf)
        if got is None:
            raise OSError(errno.EAGAIN)
        return bytes(buf[:got])

    def ioctl(self, req, arg):
        if req == _STREAM_POLL:
            return _call("net.poll", "%d %d" % (self._h, arg))
        if req == _STREAM_CLOSE:
            self.close()
        return 0

    def close(self):
        if self._h is not None:
            _call("net.close", str(self._h))
            self._h = None


def _read_all(stream):
    out = bytearray()
    buf = bytearray(1024)
    while True:
        n = stream.readinto(buf)
        if not n:
            return bytes(out) if out or n == 0 else None
        out.extend(buf[:n])
