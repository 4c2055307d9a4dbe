"""Signing keys inside a PKCS#11 token (an HSM, a smart card, SoftHSM2): the private key never
leaves it.

A key is named by an RFC 7512 URI, `pkcs11:token=LABEL;object=LABEL[;id=%01%02]`, with
`?module-path=/path/to/module.so` and `?pin-value=PIN` allowed in its query (docs/keys.md says
why the PIN is better kept in MPBOOT_PKCS11_PIN). The module is the URI's module-path, else
MPBOOT_PKCS11_MODULE, else SoftHSM2 where it is installed.

`load(uri)` returns a `TokenKey`, which works where a key file's private key does: its
`public_key()` is a `cryptography` public key (so TUF keyids and roots are made as for files)
and its `signer` is a securesystemslib `Signer` (so python-tuf signs metadata with it, and image
signatures are made through the same call, see keys.image_signature). Both key types go through
the PKCS#11 standard alone (PyKCS11): Ed25519 with CKM_EDDSA, ECDSA P-256 with CKM_ECDSA over
the SHA-256 digest, the token's raw r || s turned into the DER that securesystemslib writes.
securesystemslib's own HSMSigner was not used: it is ECDSA only and built on another binding
(python-pkcs11), so Ed25519 would still need this one.

`generate(uri, key_type)` makes a key pair inside the token, sensitive and never extractable,
and checks that the token marked it so before it is used.
"""

import contextlib
import functools
import getpass
import hashlib
import os
import sys
from binascii import hexlify
from urllib.parse import quote, unquote, unquote_to_bytes

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import SIGNER_FOR_URI_SCHEME, Signature, Signer, SSlibKey

from mpboot.errors import MpbootError

SCHEME = "pkcs11"
PIN_ENV = "MPBOOT_PKCS11_PIN"
MODULE_ENV = "MPBOOT_PKCS11_MODULE"
# Where distributions install SoftHSM2's module (Debian/Ubuntu, their multiarch path, Homebrew).
SOFTHSM2_MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/opt/homebrew/lib/softhsm/libsofthsm2.so",
                    "/usr/local/lib/softhsm/libsofthsm2.so")
# The token's own fields a URI may narrow the choice by (RFC 7512 names -> CK_TOKEN_INFO's).
TOKEN_FIELDS = {"token": "label", "manufacturer": "manufacturerID", "model": "model", "serial": "serialNumber"}
PATH_ATTRIBUTES = tuple(TOKEN_FIELDS) + ("object", "id", "type")
QUERY_ATTRIBUTES = ("module-path", "pin-value")

# CKA_EC_PARAMS: DER of the curve's OID (RFC 8410 id-Ed25519; prime256v1), and the PKCS#11 3.0
# alternative for Ed25519, the PrintableString "edwards25519".
ED25519_PARAMS = (bytes.fromhex("06032b6570"), b"\x13\x0cedwards25519")
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")
KEY_BYTES = 32  # an Ed25519 public key; each of ECDSA P-256's r and s
PAIR_PROBE = b"mpboot: does this token key pair sign as one?"


def is_uri(spec):
    return str(spec).startswith(SCHEME + ":")


class TokenURI:
    """The parts of a pkcs11: URI that name a key; `str()` shows it without any PIN."""

    def __init__(self, text):
        text = str(text)
        if not is_uri(text):
            raise MpbootError("%r is not a pkcs11: URI" % text)
        path, _, query = text[len(SCHEME) + 1:].partition("?")
        attrs = _attributes(path, ";", PATH_ATTRIBUTES, text)
        options = _attributes(query, "&", QUERY_ATTRIBUTES, text)
        self.token = attrs.get("token")
        self.token_fields = {name: attrs[name] for name in TOKEN_FIELDS if name in attrs}
        self.object = attrs.get("object")
        self.id = unquote_to_bytes(attrs["id"]) if "id" in attrs else None
        if attrs.get("type", "private") not in ("private", "public"):
            raise MpbootError("%s: type=%s does not name a key pair half (private or public)" % (self, attrs["type"]))
        if not self.token:
            raise MpbootError("%s names no token: add token=LABEL (the token's label)" % self)
        if self.object is None and self.id is None:
            raise MpbootError("%s names no key: add object=LABEL (the key's label)" % self)
        self.pin = options.get("pin-value")
        self.module = options.get("module-path")

    def __str__(self):
        parts = ["%s=%s" % (name, quote(value, safe="")) for name, value in self.token_fields.items()]
        if self.object is not None:
            parts.append("object=" + quote(self.object, safe=""))
        if self.id is not None:
            parts.append("id=" + "".join("%%%02x" % b for b in self.id))
        return SCHEME + ":" + ";".join(p for p in parts if p)

    def shareable(self):
        """The URI to keep or show elsewhere (a repository's settings): with its module-path,
        never with its pin-value."""
        return str(self) + ("?module-path=" + quote(self.module, safe="/") if self.module else "")


def _attributes(text, separator, known, uri):
    attrs = {}
    for part in text.split(separator) if text else ():
        name, eq, value = part.partition("=")
        name = unquote(name)
        if not eq or name not in known:
            # Fail closed: an attribute not understood might have narrowed the choice of key.
            raise MpbootError("pkcs11 URI %s: unknown attribute %r (mpboot reads %s)"
                              % (uri.split("?")[0], name, ", ".join(known)))
        if name in attrs:
            raise MpbootError("pkcs11 URI %s: %s given twice" % (uri.split("?")[0], name))
        attrs[name] = value if name == "id" else unquote(value)
    return attrs


def module_path(uri):
    path = uri.module or os.environ.get(MODULE_ENV)
    if path is None:
        path = next((p for p in SOFTHSM2_MODULES if os.path.exists(p)), None)
        if path is None:
            raise MpbootError("no PKCS#11 module for %s: set %s to the token's module (.so), add ?module-path= "
                              "to the URI, or install SoftHSM2 (apt-get install softhsm2)" % (uri, MODULE_ENV))
    if not os.path.isfile(path):
        raise MpbootError("PKCS#11 module %s not found (for %s): install the token's module (SoftHSM2: apt-get "
                          "install softhsm2) or point %s or ?module-path= at it" % (path, uri, MODULE_ENV))
    return path


class Token:
    """An open session with the token a URI names (logged in when `login`)."""

    def __init__(self, uri, login, pin=None):
        PyKCS11 = self.p = _pykcs11()
        self.uri = uri
        path = module_path(uri)
        try:
            with _c_stdout_silenced():
                self.lib = PyKCS11.PyKCS11Lib().load(path)
        except PyKCS11.PyKCS11Error as e:
            raise MpbootError("%s is not a usable PKCS#11 module: %s" % (path, _reason(e))) from None
        present = [(slot, self.lib.getTokenInfo(slot)) for slot in self.lib.getSlotList(tokenPresent=True)]
        chosen = [slot for slot, info in present if all(
            getattr(info, TOKEN_FIELDS[name]).strip() == value for name, value in uri.token_fields.items())]
        if not chosen:
            raise MpbootError("no PKCS#11 token %s in %s (tokens there: %s)" % (
                _token_selector(uri), path, ", ".join(sorted(repr(info.label.strip()) for _, info in present
                                                             if info.label.strip())) or "none"))
        if len(chosen) > 1:
            raise MpbootError("%d PKCS#11 tokens are %s in %s: add serial= to the URI" % (len(chosen), _token_selector(uri), path))
        self.session = self.lib.openSession(chosen[0], PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        if login:
            self._login(pin)

    def _login(self, pin):
        p = self.p
        # Logged in already by another key of this token in the same command: the PIN is not
        # asked for twice (login state belongs to the token, not to one session).
        if self.session.getSessionInfo().state in (p.CKS_RO_USER_FUNCTIONS, p.CKS_RW_USER_FUNCTIONS):
            return
        try:
            self.session.login(pin if pin is not None else read_pin(self.uri))
        except p.PyKCS11Error as e:
            if e.value in (p.CKR_PIN_INCORRECT, p.CKR_PIN_LEN_RANGE):
                raise MpbootError("wrong PIN for PKCS#11 token %r (the PIN is read from %s or the URI's pin-value)"
                                  % (self.uri.token, PIN_ENV)) from None
            if e.value == p.CKR_PIN_LOCKED:
                raise MpbootError("the user PIN of PKCS#11 token %r is locked: unblock it with the token's SO PIN"
                                  % self.uri.token) from None
            raise

    def find(self, object_class, label=None, key_id=None):
        """Handles of the objects of `object_class` with this label and id (None: any)."""
        template = [(self.p.CKA_CLASS, object_class)]
        if label is not None:
            template.append((self.p.CKA_LABEL, label))
        if key_id is not None:
            template.append((self.p.CKA_ID, tuple(key_id)))
        return self.session.findObjects(template)

    def labels(self, object_class):
        return sorted(str(self.attribute(h, self.p.CKA_LABEL)) for h in self.find(object_class))

    def attribute(self, handle, name):
        return self.session.getAttributeValue(handle, [name])[0]

    def binary(self, handle, name):
        value = self.session.getAttributeValue(handle, [name], allAsBinary=True)[0]
        return None if value is None else bytes(value)


def _token_selector(uri):
    return " ".join("%s %r" % ("labelled" if name == "token" else name, value) for name, value in uri.token_fields.items())


def _pykcs11():
    try:
        import PyKCS11  # an optional dependency: only pkcs11: keys need it
    except ImportError:
        raise MpbootError("pkcs11: keys need PyKCS11, which is not installed: pip install 'mpboot[hsm]'") from None
    return PyKCS11


def _one_line(fn):
    """For the entry points: a token failure no check above names is still one line, not a
    traceback (the token pulled out, a session closed by the module...)."""
    @functools.wraps(fn)
    def call(target, *args, **kwargs):
        p = _pykcs11()
        try:
            return fn(target, *args, **kwargs)
        except p.PyKCS11Error as e:
            shown = target if isinstance(target, TokenKey) else TokenURI(target)
            raise MpbootError("%s: the token failed: %s" % (shown, _reason(e))) from None
    return call


@contextlib.contextmanager
def _c_stdout_silenced():
    """PyKCS11's C code prints dlopen's complaint to file descriptor 1 when a module does not
    load; the one error line says it instead, and stdout stays for results."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def read_pin(uri):
    """The user PIN: the URI's pin-value, else MPBOOT_PKCS11_PIN, else asked for on a terminal."""
    if uri.pin is not None:
        return uri.pin
    pin = os.environ.get(PIN_ENV)
    if pin:
        return pin
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass("PIN for PKCS#11 token %r: " % uri.token)
    raise MpbootError("PKCS#11 token %r needs its user PIN: export %s=PIN (or run on a terminal to be asked)"
                      % (uri.token, PIN_ENV))


def _reason(error):
    return str(error).split(" (0x")[0]


class TokenKey:
    """A key pair inside a token: what a command signs with, shaped like a file's private key."""

    def __init__(self, token, private, public_handle):
        self.token = token
        self.private = private
        self.key_type, self._public = _public_key(token, public_handle)

    def public_key(self):
        return self._public

    @property
    def signer(self):
        # Made on demand, not kept: a key <-> signer cycle would keep the token's session open
        # until the garbage collector ran, past the end of the command.
        return Pkcs11Signer(self)

    def sign_raw(self, message):
        """The token's own signature: Ed25519 64 bytes, or ECDSA r || s over SHA-256(message)."""
        p = self.token.p
        if self.key_type == "ed25519":
            data, mechanism = message, p.Mechanism(p.CKM_EDDSA, None)
        else:
            data, mechanism = hashlib.sha256(message).digest(), p.Mechanism(p.CKM_ECDSA, None)
        try:
            raw = bytes(self.token.session.sign(self.private, bytes(data), mechanism))
        except p.PyKCS11Error as e:
            raise MpbootError("PKCS#11 token %r refused to sign with %s: %s" % (self.token.uri.token, self, _reason(e))) from None
        if len(raw) != 2 * KEY_BYTES:
            raise MpbootError("%s: the token returned a %d-byte signature (%s has 64)" % (self, len(raw), self.key_type))
        return raw

    def check_pair(self):
        """Sign a probe and verify it with the public half. The halves are paired by label and
        id, so another key pair with the same names would otherwise sign metadata no one can
        verify; this says so before anything is signed. (The probe cannot pass for anything
        mpboot verifies: TUF metadata starts with `{`, a manifest with `MPB1`.)"""
        signer = self.signer
        try:
            signer.public_key.verify_signature(signer.sign(PAIR_PROBE), PAIR_PROBE)
        except UnverifiedSignatureError:
            raise MpbootError("%s: the token's private key does not match its public key object (another key pair "
                              "with the same label or id?)" % self) from None

    def __str__(self):
        return str(self.token.uri)


class Pkcs11Signer(Signer):
    """A securesystemslib Signer for a TokenKey (URI scheme pkcs11:, see Signer.from_priv_key_uri)."""

    def __init__(self, token_key):
        self.key = token_key
        self._tuf_key = SSlibKey.from_crypto(token_key.public_key())

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri, public_key, secrets_handler=None):
        key = load(priv_key_uri, pin=secrets_handler("pin") if secrets_handler else None)
        if key.signer.public_key.keyid != public_key.keyid:
            raise ValueError("%s holds key %s, not %s" % (key, key.signer.public_key.keyid, public_key.keyid))
        return key.signer

    @property
    def public_key(self):
        return self._tuf_key

    def sign(self, payload):
        raw = self.key.sign_raw(payload)
        if self.key.key_type == "ecdsa":  # TUF's ecdsa-sha2-nistp256 signatures are DER, as securesystemslib writes
            raw = encode_dss_signature(int.from_bytes(raw[:KEY_BYTES], "big"), int.from_bytes(raw[KEY_BYTES:], "big"))
        return Signature(self._tuf_key.keyid, hexlify(raw).decode())


SIGNER_FOR_URI_SCHEME[SCHEME] = Pkcs11Signer


@_one_line
def load(spec, pin=None):
    """The TokenKey that a pkcs11: URI names (logs in to the token), its key pair checked."""
    uri = TokenURI(spec)
    token = Token(uri, login=True, pin=pin)
    p = token.p
    private = _one(token, p.CKO_PRIVATE_KEY, uri.object, uri.id, "private key")
    # The public half: same label, and the private key's id where it has one (the URI may not).
    key_id = token.binary(private, p.CKA_ID) or uri.id
    key = TokenKey(token, private, _one(token, p.CKO_PUBLIC_KEY, uri.object, key_id, "public key"))
    key.check_pair()
    return key


@_one_line
def load_public(spec):
    """The `cryptography` public key of a token key (no PIN needed for a public object)."""
    uri = TokenURI(spec)
    token = Token(uri, login=False)
    return _public_key(token, _one(token, token.p.CKO_PUBLIC_KEY, uri.object, uri.id, "public key"))[1]


@_one_line
def protection(key):
    """The token's flags on a key's private half: whether it can ever have left the token."""
    p = key.token.p
    return {name: bool(key.token.attribute(key.private, attr)) for name, attr in (
        ("sensitive", p.CKA_SENSITIVE), ("extractable", p.CKA_EXTRACTABLE),
        ("always_sensitive", p.CKA_ALWAYS_SENSITIVE), ("never_extractable", p.CKA_NEVER_EXTRACTABLE))}


def _one(token, object_class, label, key_id, what):
    found = token.find(object_class, label, key_id)
    if len(found) == 1:
        return found[0]
    selector = "labelled %r" % label if label is not None else "with id %s" % key_id.hex()
    if not found:
        raise MpbootError("no %s %s in PKCS#11 token %r (its %ss: %s)" % (
            what, selector, token.uri.token, what, ", ".join(repr(l) for l in token.labels(object_class)) or "none"))
    raise MpbootError("%d %ss %s in PKCS#11 token %r: add id= to the URI to choose one"
                      % (len(found), what, selector, token.uri.token))


def _public_key(token, handle):
    """(key type, cryptography public key) of a public key object, for the curves mpboot signs with."""
    p = token.p
    key_type = token.attribute(handle, p.CKA_KEY_TYPE)
    params = token.binary(handle, p.CKA_EC_PARAMS)
    point = _unwrap_octet_string(token.binary(handle, p.CKA_EC_POINT) or b"")
    try:
        if key_type == p.CKK_EC_EDWARDS and params in ED25519_PARAMS and len(point) == KEY_BYTES:
            return "ed25519", Ed25519PublicKey.from_public_bytes(point)
        if key_type == p.CKK_EC and params == P256_PARAMS:
            return "ecdsa", ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise MpbootError("%s: the token's public key is not a valid point" % token.uri) from None
    raise MpbootError("%s is not an Ed25519 or ECDSA P-256 key (mpboot signs with those two)" % token.uri)


def _unwrap_octet_string(value):
    """CKA_EC_POINT is a DER OCTET STRING around the point; some tokens give the bare point."""
    if len(value) >= 2 and value[0] == 0x04 and value[1] == len(value) - 2 and value[1] < 0x80:
        return value[2:]
    return value


@_one_line
def generate(spec, key_type):
    """Make a key pair inside the token; the private key is sensitive and never extractable."""
    uri = TokenURI(spec)
    if uri.object is None:
        raise MpbootError("%s: give object=LABEL to name the new key" % uri)
    token = Token(uri, login=True)
    p = token.p
    if token.find(p.CKO_PRIVATE_KEY, uri.object) or token.find(p.CKO_PUBLIC_KEY, uri.object):
        raise MpbootError("PKCS#11 token %r already holds a key labelled %r: choose another object= (a token key "
                          "is never replaced; delete it with the token's own tools)" % (uri.token, uri.object))
    key_id = tuple(uri.id if uri.id is not None else os.urandom(16))
    if key_type == "ed25519":
        ck_type, params, mechanism = p.CKK_EC_EDWARDS, ED25519_PARAMS[0], p.CKM_EC_EDWARDS_KEY_PAIR_GEN
    else:
        ck_type, params, mechanism = p.CKK_EC, P256_PARAMS, p.CKM_EC_KEY_PAIR_GEN
    common = [(p.CKA_KEY_TYPE, ck_type), (p.CKA_TOKEN, True), (p.CKA_LABEL, uri.object), (p.CKA_ID, key_id)]
    public_template = [(p.CKA_CLASS, p.CKO_PUBLIC_KEY), (p.CKA_PRIVATE, False), (p.CKA_VERIFY, True),
                       (p.CKA_EC_PARAMS, tuple(params))] + common
    private_template = [(p.CKA_CLASS, p.CKO_PRIVATE_KEY), (p.CKA_PRIVATE, True), (p.CKA_SENSITIVE, True),
                        (p.CKA_EXTRACTABLE, False), (p.CKA_SIGN, True), (p.CKA_DECRYPT, False),
                        (p.CKA_UNWRAP, False), (p.CKA_DERIVE, False)] + common
    try:
        public, private = token.session.generateKeyPair(public_template, private_template, mecha=p.Mechanism(mechanism, None))
    except p.PyKCS11Error as e:
        raise MpbootError("PKCS#11 token %r could not make a %s key: %s" % (uri.token, key_type, _reason(e))) from None
    key = TokenKey(token, private, public)
    flags = protection(key)
    if flags["extractable"] or not flags["sensitive"]:
        for handle in (private, public):
            token.session.destroyObject(handle)
        raise MpbootError("PKCS#11 token %r made the key extractable although asked not to: deleted it" % uri.token)
    return key
