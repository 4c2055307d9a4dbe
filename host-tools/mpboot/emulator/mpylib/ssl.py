"""`ssl` for the emulated board: MicroPython's ssl API, with the TLS done by the host's OpenSSL.

The context and the TLS session live on the host (`mpboot.emulator.net.NetHandler`), which
verifies the server with the CA data this code loaded and the `server_hostname` it gave: the
same inputs mbedtls gets on a board, checked for real.

Behaviour mirrors MicroPython 1.23+ (micropython-lib `ssl` over the `tls` module):
- `SSLContext(PROTOCOL_TLS_CLIENT)` verifies nothing until `verify_mode = CERT_REQUIRED`;
  then `wrap_socket` needs `server_hostname`, and the host name is checked as well.
- `load_verify_locations(cafile=None, cadata=None)` and `load_cert_chain(certfile, keyfile)`
  take file paths or the data itself (PEM or DER).
- A failed certificate check raises ValueError; other TLS failures OSError with a negative
  mbedtls-style code. With `do_handshake_on_connect=False` the handshake happens inside the
  first read or write, which on a non-blocking socket return None until it is done.
"""

import io

import socket as _socket
from _emu import call as _call

PROTOCOL_TLS_CLIENT = 0
PROTOCOL_TLS_SERVER = 1
CERT_NONE = 0
CERT_OPTIONAL = 1
CERT_REQUIRED = 2
MBEDTLS_VERSION = "emulated (host OpenSSL)"

def _data(path_or_data):
    if isinstance(path_or_data, str):  # a path, as for micropython-lib's ssl
        with open(path_or_data, "rb") as f:
            return f.read()
    return path_or_data


class SSLContext:
    def __init__(self, protocol):
        if protocol != PROTOCOL_TLS_CLIENT:
            raise ValueError("emulated ssl: client side only")
        self._h = _call("net.ctx", "")
        self._verify_mode = CERT_NONE

    @property
    def verify_mode(self):
        return self._verify_mode

    @verify_mode.setter
    def verify_mode(self, mode):
        _call("net.ctx_verify", "%d %d" % (self._h, mode))
        self._verify_mode = mode

    def load_verify_locations(self, cafile=None, cadata=None):
        data = _data(cafile) if cafile else cadata
        if isinstance(data, str):
            data = data.encode()
        _call("net.ctx_ca", str(self._h), data, 1)

    def load_cert_chain(self, certfile, keyfile):
        cert, key = _data(certfile), _data(keyfile)
        both = bytes(cert) + bytes(key)
        _call("net.ctx_cert", "%d %d" % (self._h, len(cert)), both, 1)

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None):
        if server_side:
            raise ValueError("emulated ssl: client side only")
        h = _call("net.wrap", "%d %d %d %s" % (
            self._h, sock._h, 1 if do_handshake_on_connect else 0,
            "-" if server_hostname is None else server_hostname))
        return SSLSocket(h)


class SSLSocket(io.IOBase):
    """MicroPython's SSLSocket methods: read, readinto, write, setblocking, close."""

    def __init__(self, handle):
        self._h = handle

    def setblocking(self, flag):
        _call("net.settimeout", "%d %d" % (self._h, -1 if flag else 0))

    readinto = _socket.socket.readinto
    read = _socket.socket.read
    write = _socket.socket.write
    ioctl = _socket.socket.ioctl
    close = _socket.socket.close


def wrap_socket(sock, server_side=False, key=None, cert=None, cert_reqs=CERT_NONE, cadata=None,
                server_hostname=None, do_handshake=True):
    ctx = SSLContext(PROTOCOL_TLS_SERVER if server_side else PROTOCOL_TLS_CLIENT)
    if cert or key:
        ctx.load_cert_chain(cert, key)
    if cadata:
        ctx.load_verify_locations(cadata=cadata)
    ctx.verify_mode = cert_reqs
    return ctx.wrap_socket(sock, server_side=server_side, do_handshake_on_connect=do_handshake,
                           server_hostname=server_hostname)
