"""A local certificate authority and a server certificate for the development update server.

`ensure_dev_tls(directory, names)` creates, on first use, a CA and a server certificate signed by
it, and afterwards only re-issues the server certificate when it no longer fits (a host name
missing from its SANs, close to expiry, or issued by another CA). The CA is kept as long as it is
valid: it is what devices are provisioned with, so replacing it means provisioning them again.

Keys are ECDSA P-256, not Ed25519: that is what the TLS stacks on the devices (mbedTLS in
ESP-IDF's MicroPython) can verify. The private keys are unencrypted files with mode 0600; this is
a development CA, production servers use certificates from the operator's own CA.
"""

import datetime
import ipaddress
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CA_LIFETIME = datetime.timedelta(days=3650)
CERT_LIFETIME = datetime.timedelta(days=397)  # the longest lifetime browsers and most clients accept
RENEW_BEFORE = datetime.timedelta(days=30)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


@dataclass
class DevTls:
    """Paths of the development CA and server certificate, and what this call created."""

    directory: Path
    names: tuple
    created: list = field(default_factory=list)

    @property
    def ca_cert(self):
        return self.directory / CA_CERT

    @property
    def ca_key(self):
        return self.directory / CA_KEY

    @property
    def server_cert(self):
        return self.directory / SERVER_CERT

    @property
    def server_key(self):
        return self.directory / SERVER_KEY


def ensure_dev_tls(directory, names=(), now=None):
    """Create or reuse the CA and server certificate in `directory`; the certificate covers
    localhost, 127.0.0.1, ::1 and every extra host name or IP address in `names`."""
    directory = Path(directory)
    now = now or _utcnow()
    all_names = tuple(dict.fromkeys(list(DEFAULT_NAMES) + [_check_name(n) for n in names]))
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise MpbootError("TLS directory %s is a file (give a directory, or a path that does not exist yet)"
                          % directory) from None
    except OSError as e:
        raise MpbootError("cannot create TLS directory %s: %s" % (directory, e.strerror or e)) from None
    tls = DevTls(directory, all_names)
    ca_cert, ca_key = _load_or_create_ca(tls, now)
    if _server_cert_needs_renewal(tls, ca_cert, now):
        _issue(tls, ca_cert, ca_key, now, tls.server_cert, tls.server_key, server_names=all_names)
        tls.created.append(tls.server_cert)
    return tls


def issue_server_cert(tls, names, cert_path, key_path, now=None):
    """Issue a server certificate for exactly `names` (host names or IP addresses) signed by the
    development CA, for a server other than the one ensure_dev_tls keeps in `tls`."""
    now = now or _utcnow()
    ca_cert, ca_key = _load_ca(tls)
    server_names = tuple(dict.fromkeys(_check_name(n) for n in names))
    if not server_names:
        raise MpbootError("a server certificate needs at least one host name or IP address")
    _issue(tls, ca_cert, ca_key, now, Path(cert_path), Path(key_path), server_names=server_names)


def issue_client_cert(tls, name, cert_path, key_path, now=None):
    """Issue a client certificate (for servers run with --client-ca) signed by the development CA."""
    now = now or _utcnow()
    ca_cert, ca_key = _load_ca(tls)
    _issue(tls, ca_cert, ca_key, now, Path(cert_path), Path(key_path), client_name=name)


def server_context(tls, client_ca=None):
    """A TLS server context with the development certificate; with `client_ca`, clients must
    present a certificate signed by that CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(tls.server_cert), str(tls.server_key))
    if client_ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(client_ca))
        except FileNotFoundError:
            raise MpbootError("client CA file not found: %s (give the PEM certificate of the CA that signs the "
                              "devices' certificates)" % client_ca) from None
        except (OSError, ssl.SSLError) as e:
            raise MpbootError("cannot load client CA %s: %s (give a PEM CA certificate)" % (client_ca, e)) from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _check_name(name):
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not _HOSTNAME.match(name):
        raise MpbootError("not a host name or IP address: %r (use letters, digits, '-' and '.')" % name)
    return name.lower()


def _load_or_create_ca(tls, now):
    if tls.ca_cert.exists() or tls.ca_key.exists():
        ca_cert, ca_key = _load_ca(tls)
        if ca_cert.not_valid_after_utc <= now:
            raise MpbootError(
                "development CA expired on %s: remove %s and %s to create a new one, then provision "
                "devices with the new CA" % (ca_cert.not_valid_after_utc.date(), tls.ca_cert, tls.ca_key)
            )
        return ca_cert, ca_key
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mpboot development CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(tls.ca_key, key)
    atomic_write(tls.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    tls.created.append(tls.ca_cert)
    return cert, key


def _load_ca(tls):
    try:
        cert = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(tls.ca_key.read_bytes(), password=None)
    except FileNotFoundError as e:
        raise MpbootError(
            "incomplete development CA in %s: %s is missing (restore it, or remove the directory to "
            "start a new CA)" % (tls.directory, e.filename)
        ) from None
    except ValueError as e:
        raise MpbootError("unreadable development CA in %s: %s" % (tls.directory, e)) from None
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        raise MpbootError("%s and %s do not belong together (restore the pair)" % (tls.ca_cert, tls.ca_key))
    return cert, key


def _server_cert_needs_renewal(tls, ca_cert, now):
    try:
        cert = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
        key = serialization.load_pem_private_key(tls.server_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return True
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        return True
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - RENEW_BEFORE <= now:
        return True
    try:
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.InvalidSignature, x509.ExtensionNotFound):
        return True
    present = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    present |= {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return not set(tls.names) <= present


def _issue(tls, ca_cert, ca_key, now, cert_path, key_path, server_names=(), client_name=None):
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = client_name or server_names[0]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + CERT_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
    )
    if client_name:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in server_names]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    # Key first: a certificate on disk without its key would be taken as valid by the next run.
    _write_key(key_path, key)
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _general_name(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_usage(cert_sign):
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path, key):
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    atomic_write(path, pem, mode=0o600)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)
