"""`mpboot pubkey`: the public key and keyid of a key file or a token key, optionally as a .pub file."""

import argparse
import json

from mpboot import hsm, keys
from mpboot.errors import MpbootError
from mpboot.fileio import add_force_option, atomic_write, refuse_existing

ORDER = 11

EXAMPLES = """\
examples:
  mpboot pubkey release.pem.pub              # keyid, type and PEM of a key file
  mpboot pubkey 'pkcs11:token=release;object=targets' -o targets.pub
  mpboot pubkey 'pkcs11:token=release;object=targets' --protection --json

A token's public key object is read without its PIN. With --protection the token is logged in
to (MPBOOT_PKCS11_PIN) and asked whether the private half is sensitive and was never
extractable: what `mpboot keygen` makes. OUT is a SubjectPublicKeyInfo PEM file, the same as a
KEYFILE.pub, for `mpboot root init --targets-key` or to hand to others; an OUT that exists is
refused unless --force.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "pubkey", help="show the public key and keyid of a key file or PKCS#11 token key",
        description="Print a key's TUF keyid, type and public key (PEM); write it to OUT with -o.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("key", metavar="KEYFILE|URI", help="a key file (private or .pub) or a pkcs11: URI")
    p.add_argument("-o", "--output", metavar="OUT.pub", help="write the public key here (PEM)")
    p.add_argument("--protection", action="store_true",
                   help="for a token key: log in and report whether the private key can leave the token")
    p.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding a key file's passphrase")
    add_force_option(p, "replace OUT if it exists (by default it is refused)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=run)


def run(args):
    if args.output and not args.force:
        refuse_existing(args.output, "public key file")
    flags = None
    if args.protection:
        if not keys.is_uri(args.key):
            raise MpbootError("--protection asks a token about its key: give a pkcs11: URI, not a key file")
        key = keys.load_private_key(args.key)
        public, flags = key.public_key(), hsm.protection(key)
    else:
        public = keys.load_public_key(args.key, keys.passphrase_from_env(args.passphrase_env))
    tuf_key = keys.tuf_key(public)
    pem = keys.public_pem(public)
    if args.output:
        atomic_write(args.output, pem, overwrite=args.force, what="public key file")
    shown = keys.shown(args.key)
    result = {"key": shown, "keyid": tuf_key.keyid, "key_type": keys.type_of(public),
              "scheme": tuf_key.scheme, "public_pem": pem.decode()}
    if flags is not None:
        result["protection"] = flags
    if args.output:
        result["output"] = str(args.output)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("%s: %s key, keyid %s" % (shown, tuf_key.scheme, tuf_key.keyid))
    if flags is not None:
        print("  private key: " + ", ".join("%s %s" % (name.replace("_", " "), "yes" if on else "no")
                                          for name, on in flags.items()))
    print(pem.decode().rstrip("\n"))
    if args.output:
        print("wrote %s" % args.output)
