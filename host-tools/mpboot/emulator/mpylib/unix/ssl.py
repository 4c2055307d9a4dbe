"""`ssl` for the emulated board on the unix port: the port's own (micropython-lib's `ssl` over
the `tls` module, mbedTLS: the handshake, the certificate chain and host name checks), with one
difference made up for.

The wheel's mbedTLS is built without PEM parsing (MBEDTLS_PEM_PARSE_C), which ESP-IDF's mbedTLS
has (a board loads the PEM CA `mpboot provision` gives it): here a PEM CA, certificate or key
becomes DER before mbedTLS parses it, one certificate at a time. DER passes unchanged. The
module-level `wrap_socket` is the port's, for DER only.
"""

import sys

import binascii


def _port_ssl():
    # This module is `ssl` on the board's path; the port's is frozen (".frozen" on sys.path).
    me = sys.modules.pop(__name__)
    path = sys.path[:]
    sys.path[:] = [".frozen"]
    try:
        import ssl as port
    finally:
        sys.path[:] = path
        sys.modules[__name__] = me
    return port


_port = _port_ssl()
for _name in dir(_port):
    if _name[:1] != "_":
        globals()[_name] = getattr(_port, _name)
del _name


def _data(path_or_data):
    if isinstance(path_or_data, str) and path_or_data[:5] != "-----":  # a path, as for the port's ssl
        with open(path_or_data, "rb") as f:
            return f.read()
    return path_or_data.encode() if isinstance(path_or_data, str) else path_or_data


def _ders(data):
    """The DER of each PEM block in `data`, or [data] when it is not PEM."""
    data = _data(data)
    if bytes(data[:5]) != b"-----":
        return [data]
    ders, body = [], None
    for line in bytes(data).split(b"\n"):
        line = line.strip()
        if line[:11] == b"-----BEGIN ":
            body = []
        elif line[:9] == b"-----END ":
            ders.append(binascii.a2b_base64(b"".join(body)))
            body = None
        elif body is not None:
            body.append(line)
    if not ders:
        raise ValueError("invalid cert")
    return ders


class SSLContext(_port.SSLContext):
    def load_verify_locations(self, cafile=None, cadata=None):
        for der in _ders(cafile if cafile else cadata):
            super().load_verify_locations(cadata=der)

    def load_cert_chain(self, certfile, keyfile):
        super().load_cert_chain(_ders(certfile)[0], _ders(keyfile)[0])
