"""Signing keys on the host: Ed25519 or ECDSA P-256, in files or in a PKCS#11 token.

A key file is PKCS#8 PEM (mode 0600), optionally encrypted with a passphrase taken from an
environment variable (never from the command line, where other users and shell history see
it). The public half sits beside it as `KEYFILE.pub` (SubjectPublicKeyInfo PEM). Wherever a key
file is read, a `pkcs11:` URI may stand instead (mpboot.hsm): the key is then used inside the
token, and `load_private_key` returns a handle shaped like a file's private key.

A key's TUF identity is the key object a repository publishes and its keyid, computed by
securesystemslib; the device recomputes the same keyid (mpboot_fw.trust.keyid_of). Every
signature, of TUF metadata or of an image manifest, is made by the key's securesystemslib
Signer (`tuf_signer`), so file and token keys of both types take one path; an image keeps the
64 raw bytes the device verifies (`image_signature`).
"""

import os
from binascii import unhexlify
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.exceptions import UnsignedMetadataError

from mpboot import hsm
from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write, read_input, refuse_existing
from mpboot_fw.ed25519 import in_prime_subgroup

PUBLIC_SUFFIX = ".pub"
KEY_TYPES = ("ed25519", "ecdsa")  # ecdsa: NIST P-256 with SHA-256 (TUF's ecdsa-sha2-nistp256)
P256_SCALAR = 32  # bytes of each of r and s in an image manifest's 64-byte signature slot
is_uri = hsm.is_uri


def shown(spec):
    """A key file or URI as messages and reports name it: never with a URI's pin-value."""
    return hsm.TokenURI(spec).shareable() if is_uri(spec) else str(spec)


def public_path(key_path):
    return Path(str(key_path) + PUBLIC_SUFFIX)


def passphrase_from_env(var):
    """The passphrase held in environment variable `var` (None when no variable is named)."""
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise MpbootError("--passphrase-env %s: that environment variable is not set (export it first)" % var)
    if not value:
        raise MpbootError("--passphrase-env %s: that environment variable is empty (put the passphrase in it)" % var)
    return value.encode()


def generate_keypair(key_path, passphrase=None, overwrite=False, key_type="ed25519"):
    """Write a new private key of `key_type` to `key_path` (0600), its public key to `key_path`.pub.

    Refuses to overwrite either file unless `overwrite`; if the second write fails, the first is
    removed (with `overwrite`, a replaced private key is gone then: the pair is replaced as one
    only when both writes work).
    """
    pub_path = public_path(key_path)
    if not overwrite:
        refuse_existing(key_path, "key file")
        refuse_existing(pub_path, "public key file")
    key = Ed25519PrivateKey.generate() if key_type == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    atomic_write(key_path, private_pem, mode=0o600, overwrite=overwrite, what="key file")
    try:
        atomic_write(pub_path, public_pem(key.public_key()), overwrite=overwrite, what="public key file")
    except BaseException:
        os.unlink(key_path)
        raise
    return key


def public_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(spec, passphrase=None):
    """A signing key: from a key file (a `cryptography` private key) or a pkcs11: URI (an
    hsm.TokenKey, logged in); every way it can fail is one MpbootError line."""
    if is_uri(spec):
        key = hsm.load(spec)
        check_key_type(key.public_key(), shown(spec), "key")
        return key
    path = spec
    data = read_input(path, "key file")
    if b"PUBLIC KEY-----" in data:
        raise MpbootError("%s is a public key: sign with the private key file (without .pub)" % path)
    encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data
    if encrypted and passphrase is None:
        raise MpbootError("key %s is encrypted: pass --passphrase-env VAR naming the variable that holds its passphrase" % path)
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except ValueError:
        if encrypted:
            raise MpbootError("wrong passphrase for key %s (check the variable given to --passphrase-env)" % path) from None
        raise MpbootError("%s is not a PEM private key (make one with `mpboot keygen`)" % path) from None
    except Exception as e:  # cryptography reports unsupported formats with several types
        raise MpbootError("%s is not a usable private key: %s" % (path, e)) from None
    check_key_type(key.public_key(), path, "key")
    return key


def load_public_key(spec, passphrase=None):
    """A public key from a .pub PEM file, a private key file, or a pkcs11: URI."""
    if is_uri(spec):
        return check_key_type(hsm.load_public(spec), shown(spec), "public key")
    path = spec
    data = read_input(path, "key file")
    if b"PRIVATE KEY-----" in data:
        return load_private_key(path, passphrase).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise MpbootError("%s is not a PEM public key (use the KEYFILE.pub written by `mpboot keygen`)" % path) from None
    except Exception as e:  # cryptography reports unsupported formats with several types
        raise MpbootError("%s is not a usable public key: %s" % (path, e)) from None
    return check_key_type(key, path, "public key")


def check_key_type(public_key, where, what):
    """`public_key` if it is one mpboot signs with (Ed25519, ECDSA P-256), else MpbootError."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return public_key
    if not isinstance(public_key, Ed25519PublicKey):
        kind = ("an ECDSA %s key" % public_key.curve.name if isinstance(public_key, ec.EllipticCurvePublicKey)
                else "neither Ed25519 nor ECDSA")
        raise MpbootError("%s is %s: mpboot signs with Ed25519 or ECDSA P-256 keys (make one with `mpboot keygen`)"
                          % (where, kind))
    # OpenSSL loads any 32 bytes; the device refuses a root with such a key (trust.check_keys),
    # so say which file it is before a root is built around it.
    if not in_prime_subgroup(raw_public(public_key)):
        raise MpbootError(
            "%s is not a usable Ed25519 %s: not a point of prime order (one secret could "
            "sign as two such keys); use a KEYFILE.pub written by `mpboot keygen`" % (where, what))
    return public_key


def raw_public(public_key):
    """The 32 bytes of an Ed25519 public key, as the device holds it."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def tuf_key(public_key):
    """The TUF key object (securesystemslib SSlibKey, with its default keyid) for a public key."""
    return SSlibKey.from_crypto(public_key)


def type_of(public_key):
    """"ed25519" or "ecdsa", for a public key check_key_type accepted."""
    return "ed25519" if isinstance(public_key, Ed25519PublicKey) else "ecdsa"


def tuf_signer(private_key):
    """A securesystemslib signer for python-tuf's Metadata.sign: a file key's CryptoSigner, or a
    token key's Pkcs11Signer."""
    if isinstance(private_key, hsm.TokenKey):
        return private_key.signer
    return CryptoSigner(private_key, tuf_key(private_key.public_key()))


def sign_metadata(metadata, signer):
    """metadata.sign(signer, append=True), a failure one MpbootError line: python-tuf wraps what
    a signer raised (a token that refused, or was pulled out) in UnsignedMetadataError."""
    try:
        metadata.sign(signer, append=True)
    except UnsignedMetadataError as e:
        if isinstance(e.__cause__, MpbootError):
            raise e.__cause__ from None
        raise MpbootError("signing %s metadata failed: %s" % (metadata.signed.type, e)) from None


def image_signature(private_key, message):
    """The 64 bytes an image manifest holds for `private_key`'s signature of `message`: Ed25519's
    own, or ECDSA P-256's r || s (IEEE P1363, each 32 bytes big-endian) over SHA-256(message)."""
    signature = unhexlify(tuf_signer(private_key).sign(message).signature)
    if type_of(private_key.public_key()) == "ed25519":
        return signature
    r, s = decode_dss_signature(signature)
    return r.to_bytes(P256_SCALAR, "big") + s.to_bytes(P256_SCALAR, "big")
