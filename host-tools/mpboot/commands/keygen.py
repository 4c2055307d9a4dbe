"""`mpboot keygen`: a new Ed25519 signing key (PKCS#8 PEM, 0600) and its public key beside it."""

import argparse
import json

from mpboot import keys
from mpboot.fileio import add_force_option

ORDER = 10

EXAMPLES = """\
examples:
  mpboot keygen release.pem                  # writes release.pem (0600) and release.pem.pub
  export MPBOOT_PASS='correct horse battery staple'
  mpboot keygen release.pem --passphrase-env MPBOOT_PASS   # encrypted private key

Keep the private key offline; give devices and other people the .pub file. Existing files are
refused unless --force, which replaces both: the old private key is gone for good, so keep a
copy while a root or a repository still trusts it. The keyid printed is the key's TUF identity (SHA-256 of its key object), as
it appears in root.json and in signed images.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "keygen", help="generate an Ed25519 signing key",
        description="Generate an Ed25519 private key (PKCS#8 PEM, mode 0600, optionally encrypted) "
        "and write its public key to KEYFILE.pub.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("keyfile", metavar="KEYFILE", help="private key file to create")
    p.add_argument("--passphrase-env", metavar="VAR",
                   help="encrypt the private key with the passphrase held in environment variable VAR")
    add_force_option(p, "replace KEYFILE and KEYFILE.pub if they exist (by default they are refused)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args):
    passphrase = keys.passphrase_from_env(args.passphrase_env)
    key = keys.generate_keypair(args.keyfile, passphrase, overwrite=args.force)
    tuf_key = keys.tuf_key(key.public_key())
    result = {
        "private_key": str(args.keyfile),
        "public_key": str(keys.public_path(args.keyfile)),
        "encrypted": passphrase is not None,
        "keyid": tuf_key.keyid,
        "public": tuf_key.keyval["public"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("wrote %s (private%s, mode 0600) and %s" % (
            args.keyfile, ", encrypted" if passphrase else "", keys.public_path(args.keyfile)))
        print("keyid %s" % tuf_key.keyid)
