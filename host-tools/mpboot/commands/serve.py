"""`mpboot serve`: the development update server for a repository (HTTPS, local CA)."""

import argparse
import os
import re
import sys
from pathlib import Path

from mpboot import serve, tls
from mpboot.errors import MpbootError
from mpboot.fileio import add_force_option, refuse_existing

ORDER = 60

EXAMPLES = """\
examples:
  mpboot serve repo                          # https://127.0.0.1:8443/, CA in ~/.config/mpboot/tls
  mpboot serve repo --host 0.0.0.0 --name updates.lan --port 443
  mpboot serve repo --require-client-cert    # clients need a certificate from the same CA
  mpboot serve repo --issue-client-cert device-42   # write such a certificate, then exit
  mpboot serve repo --insecure-http --port 8080     # plain HTTP, for local conformance tests only

The CA and server certificate are created on first use and reused afterwards (the server
certificate is re-issued when a --name is new or it nears expiry; the CA stays, so provisioned
devices keep working). Only metadata/, targets/ and files/ are served. One access-log line per request:
time, client, method, path, status, body bytes sent.

Limits on what clients can hold: --timeout (no progress), --request-deadline (one request from
start to end, TLS handshake included) and --max-connections (served at once; a connection over
the cap is closed as soon as it is accepted, and a device retries it later with backoff).
"""


def register(subparsers):
    p = subparsers.add_parser(
        "serve",
        help="serve a repository over HTTPS for development (local CA)",
        description="Serve an update repository's metadata/, targets/ and files/ over HTTPS with a local "
        "development CA, for devices and tests on your own network.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("repo", metavar="DIR", help="repository directory (made by `mpboot repo init`)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=None, help="port (default 8443, or 8080 with --insecure-http; 0 picks a free one)")
    p.add_argument("--tls-dir", type=Path, default=None, help="where the CA and server certificate live (default ~/.config/mpboot/tls)")
    p.add_argument("--name", action="append", default=[], metavar="HOST",
                   help="extra host name or address for the server certificate, as devices will reach it (repeatable)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--client-ca", type=Path, metavar="PEM", help="require client certificates signed by this CA")
    group.add_argument("--require-client-cert", action="store_true",
                       help="require client certificates signed by the development CA")
    group.add_argument("--issue-client-cert", metavar="NAME",
                       help="write NAME.pem and NAME.key (a client certificate from the development CA) into TLS_DIR/clients/ and exit")
    group.add_argument("--insecure-http", action="store_true",
                       help="plain HTTP without TLS: ONLY for local tests such as tuf-conformance; never for devices")
    add_force_option(p, "with --issue-client-cert: replace NAME.pem and NAME.key if they exist (by default they "
                     "are refused)")
    p.add_argument("--timeout", type=float, default=serve.DEFAULT_TIMEOUT, metavar="S",
                   help="drop a client after this many seconds without progress (default %(default)s)")
    p.add_argument("--request-deadline", type=float, default=serve.DEFAULT_DEADLINE, metavar="S",
                   help="close a connection whose request (TLS handshake, request, response) is not done "
                   "within this many seconds, however slowly it trickles (default %(default)s); "
                   "a device resumes a cut download with a Range request")
    p.add_argument("--max-connections", type=int, default=serve.DEFAULT_MAX_CONNECTIONS, metavar="N",
                   help="connections served at once, one thread each (default %(default)s); "
                   "one more is closed at accept, before TLS, and the client retries later")
    p.set_defaults(func=run)


def run(args):
    if args.port is not None and not 0 <= args.port <= 65535:
        raise MpbootError("--port must be from 0 to 65535 (0 picks a free one)")
    if args.timeout <= 0:
        raise MpbootError("--timeout must be more than 0 seconds")
    if args.request_deadline <= 0:
        raise MpbootError("--request-deadline must be more than 0 seconds")
    if args.max_connections < 1:
        raise MpbootError("--max-connections must be at least 1")
    tls_dir = args.tls_dir or _default_tls_dir()
    if args.issue_client_cert:
        return _issue_client_cert(tls_dir, args.issue_client_cert, args.name, args.force)
    if args.force:
        raise MpbootError("--force goes with --issue-client-cert (serving writes no files of yours)")
    serve.repository_root(args.repo)  # before a CA is created for a server that cannot start
    context = None
    if not args.insecure_http:
        names = list(args.name)
        if args.host not in ("0.0.0.0", "::", ""):
            names.append(args.host)
        dev = tls.ensure_dev_tls(tls_dir, names)
        client_ca = dev.ca_cert if args.require_client_cert else args.client_ca
        context = tls.server_context(dev, client_ca)
    port = args.port if args.port is not None else (8080 if args.insecure_http else 8443)
    httpd = serve.make_server(args.repo, args.host, port, context, args.timeout, None, args.request_deadline,
                              args.max_connections)
    host, port = httpd.server_address[:2]
    shown = "[%s]" % host if ":" in host else host
    url = "%s://%s:%d/" % ("http" if args.insecure_http else "https", shown, port)
    print("mpboot serve: %s from %s (metadata/, targets/ and files/ only); Ctrl-C stops" % (url, Path(args.repo).resolve()))
    print("  metadata URL: %smetadata/   targets URL: %stargets/" % (url, url))
    if args.insecure_http:
        print("  WARNING: PLAIN HTTP, NO TRANSPORT SECURITY. For local tests (tuf-conformance) only;")
        print("  never point a device at this URL.")
    else:
        _explain_tls(dev, client_ca)
    print("  limits: %d connections at once, %gs per request, %gs without progress"
          % (args.max_connections, args.request_deadline, args.timeout))
    sys.stdout.flush()
    try:
        httpd.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        print("mpboot serve: stopped")
    finally:
        httpd.server_close()
        httpd.close_connections()
    return 0


def _explain_tls(dev, client_ca):
    for path in dev.created:
        print("  created %s" % path)
    print("  CA certificate: %s" % dev.ca_cert)
    print("  Provision every device with this CA certificate (PEM): `mpboot device-files` or `mpboot provision`")
    print("  with --update-url URL --tls-dir %s put it on the device's filesystem with the URL." % dev.directory)
    print("  Devices check the server certificate against it and the host name, which must be one of:")
    print("  %s (add others with --name)." % ", ".join(dev.names))
    if client_ca:
        print("  Clients must present a certificate signed by %s." % client_ca)


def _issue_client_cert(tls_dir, name, names, force):
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise MpbootError("--issue-client-cert %r: use 1-64 letters, digits, '.', '_' or '-' (it names the files)" % name)
    dev = tls.ensure_dev_tls(tls_dir, names)
    out = dev.directory / "clients"
    out.mkdir(exist_ok=True, mode=0o700)
    cert, key = out / (name + ".pem"), out / (name + ".key")
    if not force:  # a device may hold the old pair: replacing it is a decision, not a default
        refuse_existing(cert, "client certificate")
        refuse_existing(key, "client key")
    tls.issue_client_cert(dev, name, cert, key)
    print("client certificate: %s\nclient key:         %s (mode 0600)" % (cert, key))
    print("signed by the development CA %s; serve with --require-client-cert to require one." % dev.ca_cert)
    return 0


def _default_tls_dir():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "mpboot" / "tls"
