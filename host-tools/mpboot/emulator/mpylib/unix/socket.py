"""`socket` for the emulated board on the unix port: the port's own sockets (real TCP from the
interpreter), with names resolved by the host.

Only `getaddrinfo` differs: the host's `mpboot.emulator.net.NetHandler` resolves the name (its
`hosts`, "localhost" or an IP literal: no DNS query leaves the machine) and refuses an address
outside its allowlist (loopback by default), then the port builds the address from the literal.
Device code connects to what getaddrinfo gave (mpboot_fw.fetch does), so it reaches only
allowed addresses. TLS over these sockets is the port's mbedTLS (`ssl`, `tls`).
"""

from usocket import *  # noqa: F401,F403 - the port's socket module, under this name
import usocket as _socket

from _emu import call as _call


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    buf = bytearray(48)
    n = _call("net.resolve", "%s %d" % (host, port), buf)
    return _socket.getaddrinfo(bytes(buf[:n]).decode(), port, af, type, proto, flags)
