"""TLS on the emulated board on the unix port: the port's own mbedTLS over its own sockets to a
real HTTPS server on loopback (tests/https_fixtures.py), with the chain and host name checked by
mbedTLS against the CA the device loads (PEM, as `mpboot provision` gives it; the wheel's
mbedTLS parses DER only, so mpylib/unix/ssl.py converts). Names resolve only through the host's
NetHandler (its `hosts`, loopback allowlist): nothing leaves the machine.
"""

import json

import pytest

from emuboard import new_flash, unix_runtime
from https_fixtures import HttpsServer, make_pki
from mpboot.emulator.board import Board
from mpboot.emulator.net import NetHandler

MAIN = r"""
import json, socket, ssl, _host
p = json.loads(_host.call('test.params', None, 0, 0, 0))
print('tls', ssl.MBEDTLS_VERSION)
try:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=open('/ca.pem').read())
    if p['client']:
        ctx.load_cert_chain('/client.pem', '/client.key')
    ai = socket.getaddrinfo(p['host'], p['port'], 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], ai[1], ai[2])
    s.connect(ai[-1])
    t = ctx.wrap_socket(s, server_hostname=p['host'])
    t.write(b'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    print('got', t.read(4096).split(b'\r\n\r\n', 1)[-1])
    t.close()
except Exception as e:
    print('refused', type(e).__name__, e.args[0] if e.args else '')
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def fetch(pki, server, host, client=False):
    """The board's output lines after its main.py fetched /hello from `server` as `host`."""
    files = {"/main.py": MAIN, "/ca.pem": pki.ca_pem.read_bytes()}
    for name in ("client.pem", "client.key"):
        files["/" + name] = (pki.directory / name).read_bytes()
    params = json.dumps(dict(host=host, port=server.port, client=client))
    net = NetHandler(hosts={"updates.example.test": "127.0.0.1", "elsewhere.test": "10.1.2.3"})
    services = {"net": net, "test": lambda op, arg, body, n: params}
    try:
        with Board(new_flash(files), runtime=unix_runtime(), services=services) as board:
            record = board.boot()
    finally:
        net.close()
    assert record.outcome == "ok", record.text
    assert record.output[0].startswith("tls Mbed TLS "), record.output  # the port's, not the host's
    return record.output[1]


def test_the_port_verifies_the_chain_and_the_host_name(pki):
    with HttpsServer(pki, {"/hello": b"hello"}) as server:
        assert fetch(pki, server, "localhost") == "got b'hello'"
        assert fetch(pki, server, "updates.example.test") == "got b'hello'"
    # A certificate of the right CA for another name, and one for the right name from another CA.
    for cert in ("wrong-name", "rogue"):
        with HttpsServer(pki, {"/hello": b"hello"}, cert=cert) as server:
            assert fetch(pki, server, "updates.example.test").startswith("refused ValueError"), cert


def test_client_certificates_from_pem(pki):
    with HttpsServer(pki, {"/hello": b"hello"}, client_auth=True) as server:
        assert fetch(pki, server, "localhost", client=True) == "got b'hello'"
        assert fetch(pki, server, "localhost").startswith("refused OSError")


def test_names_resolve_on_the_host_and_only_to_loopback(pki):
    with HttpsServer(pki, {"/hello": b"hello"}) as server:
        assert fetch(pki, server, "elsewhere.test") == "refused OSError 13"  # EACCES: outside the allowlist
        assert fetch(pki, server, "unknown.test") == "refused OSError -2"  # no DNS: not in hosts
