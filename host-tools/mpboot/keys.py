"""Ed25519 keys on the host: generate, save, load, and their TUF identity.

Private keys are PKCS#8 PEM files (mode 0600), optionally encrypted with a passphrase taken from
an environment variable (never from the command line, where other users and shell history see
it). The public half sits beside it as `KEYFILE.pub` (SubjectPublicKeyInfo PEM). A key's TUF
identity is the key object a repository publishes and its keyid, computed by securesystemslib;
the device recomputes the same keyid (mpboot_fw.trust.keyid_of).
"""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.signer import CryptoSigner, SSlibKey

from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write, read_input, refuse_existing
from mpboot_fw.ed25519 import in_prime_subgroup

PUBLIC_SUFFIX = ".pub"


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


def generate_keypair(key_path, passphrase=None, overwrite=False):
    """Write a new private key to `key_path` (0600) and its public key to `key_path`.pub.

    Refuses to overwrite either file unless `overwrite`; if the second write fails, the first is
    removed (with `overwrite`, a replaced private key is gone then: the pair is replaced as one
    only when both writes work).
    """
    pub_path = public_path(key_path)
    if not overwrite:
        refuse_existing(key_path, "key file")
        refuse_existing(pub_path, "public key file")
    key = Ed25519PrivateKey.generate()
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


def load_private_key(path, passphrase=None):
    """Load an Ed25519 private key file; every way it can fail is one MpbootError line."""
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
    if not isinstance(key, Ed25519PrivateKey):
        raise MpbootError("%s is not an Ed25519 key (mpboot signs with Ed25519; make one with `mpboot keygen`)" % path)
    return key


def load_public_key(path, passphrase=None):
    """Load an Ed25519 public key from a .pub PEM file, or from a private key file."""
    data = read_input(path, "key file")
    if b"PRIVATE KEY-----" in data:
        return load_private_key(path, passphrase).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise MpbootError("%s is not a PEM public key (use the KEYFILE.pub written by `mpboot keygen`)" % path) from None
    except Exception as e:  # cryptography reports unsupported formats with several types
        raise MpbootError("%s is not a usable public key: %s" % (path, e)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise MpbootError("%s is not an Ed25519 public key" % path)
    # OpenSSL loads any 32 bytes; the device refuses a root with such a key (trust.check_keys),
    # so say which file it is before a root is built around it.
    if not in_prime_subgroup(raw_public(key)):
        raise MpbootError(
            "%s is not a usable Ed25519 public key: not a point of prime order (one secret could "
            "sign as two such keys); use a KEYFILE.pub written by `mpboot keygen`" % path)
    return key


def raw_public(public_key):
    """The 32 bytes of an Ed25519 public key, as the device holds it."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def tuf_key(public_key):
    """The TUF key object (securesystemslib SSlibKey, with its default keyid) for a public key."""
    return SSlibKey.from_crypto(public_key)


def tuf_signer(private_key):
    """A securesystemslib signer for python-tuf's Metadata.sign."""
    return CryptoSigner(private_key, tuf_key(private_key.public_key()))
