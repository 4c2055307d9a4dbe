"""`mpboot keygen`: a new signing key, Ed25519 (the default) or ECDSA P-256: a PKCS#8 PEM file
(0600) with its public key beside it, or a key pair made inside a PKCS#11 token."""

import argparse
import json

from mpboot import hsm, keys
from mpboot.errors import MpbootError
from mpboot.fileio import add_force_option

ORDER = 10

EXAMPLES = """\
examples:
  mpboot keygen release.pem                  # writes release.pem (0600) and release.pem.pub
  mpboot keygen release.pem --type ecdsa     # ECDSA P-256 (ecdsa-sha2-nistp256) instead of Ed25519
  export MPBOOT_PASS='correct horse battery staple'
  mpboot keygen release.pem --passphrase-env MPBOOT_PASS   # encrypted private key
  export MPBOOT_PKCS11_PIN=1234
  mpboot keygen 'pkcs11:token=release;object=targets'      # inside the token: never leaves it

Keep the private key offline; give devices and other people the .pub file (`mpboot pubkey`
prints a token key's). Existing files are refused unless --force, which replaces both: the old
private key is gone for good, so keep a copy while a root or a repository still trusts it. A
token key is made sensitive and never extractable, and is never replaced: an object label
already in the token is refused. The keyid printed is the key's TUF identity (SHA-256 of its
key object), as it appears in root.json and in signed images. docs/keys.md has the details.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "keygen", help="generate an Ed25519 or ECDSA P-256 signing key, in a file or a PKCS#11 token",
        description="Generate a private key (PKCS#8 PEM, mode 0600, optionally encrypted) and write its "
        "public key to KEYFILE.pub; or, for a pkcs11: URI, generate the key pair inside the token.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("keyfile", metavar="KEYFILE|URI",
                   help="private key file to create, or pkcs11:token=LABEL;object=LABEL for a token key")
    p.add_argument("--type", dest="key_type", choices=keys.KEY_TYPES, default="ed25519",
                   help="ed25519 (default) or ecdsa (NIST P-256 with SHA-256)")
    p.add_argument("--passphrase-env", metavar="VAR",
                   help="encrypt the private key with the passphrase held in environment variable VAR")
    add_force_option(p, "replace KEYFILE and KEYFILE.pub if they exist (by default they are refused)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args):
    if keys.is_uri(args.keyfile):
        if args.passphrase_env or args.force:
            raise MpbootError("--%s does not apply to a token key (the token's PIN protects it, and it is never "
                              "replaced)" % ("passphrase-env" if args.passphrase_env else "force"))
        key = hsm.generate(args.keyfile, args.key_type)
        result = {"uri": keys.shown(args.keyfile), "key_type": args.key_type, "protection": hsm.protection(key)}
        written = "made %s key %s inside the token (not extractable)" % (args.key_type, key)
    else:
        passphrase = keys.passphrase_from_env(args.passphrase_env)
        key = keys.generate_keypair(args.keyfile, passphrase, overwrite=args.force, key_type=args.key_type)
        result = {
            "private_key": str(args.keyfile),
            "public_key": str(keys.public_path(args.keyfile)),
            "key_type": args.key_type,
            "encrypted": passphrase is not None,
        }
        written = "wrote %s (%s private key%s, mode 0600) and %s" % (
            args.keyfile, args.key_type, ", encrypted" if passphrase else "", keys.public_path(args.keyfile))
    tuf_key = keys.tuf_key(key.public_key())
    result.update(keyid=tuf_key.keyid, public=tuf_key.keyval["public"])
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(written)
        print("keyid %s" % tuf_key.keyid)
