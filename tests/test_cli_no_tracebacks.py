"""Every `mpboot` command against a table of bad inputs: each one fails with exit status 1 and
one `mpboot: error:` line on stderr (or argparse's usage and error, status 2), never a traceback,
and leaves no output file behind. Commands that write a file refuse one that exists unless
--force, and --force replaces it whole.

The commands are read from the real parser, so a new command without bad inputs here fails
`test_every_command_has_bad_inputs`.
"""

import argparse
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mpboot import cli
from realfirmware import micropython_firmware

PASS_VAR = "MPBOOT_NOTB_PASS"
UNSET_VAR = "MPBOOT_NOTB_UNSET"
CASE_SECONDS = 60  # a case that runs longer is waiting for something it will never get


def leaf_commands(parser=None, prefix=()):
    """Every runnable command path, ("root", "init") and the like, from the parser itself."""
    parser = parser or cli.build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [prefix]
    found = []
    for name, child in subs[0].choices.items():
        found += leaf_commands(child, prefix + (name,))
    return found


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """Good keys, root, image, flash image, device files and repository, and bad files, made once."""
    d = tmp_path_factory.mktemp("notb")
    fw = micropython_firmware()

    def ok(*argv):
        assert cli.main([str(a) for a in argv]) == 0, argv

    os.environ[PASS_VAR] = "right passphrase"
    ok("keygen", d / "rel.pem")
    ok("keygen", d / "root.pem")
    ok("keygen", d / "enc.pem", "--passphrase-env", PASS_VAR)
    ok("root", "init", d / "root.json", "--root-key", d / "root.pem", "--targets-key", d / "rel.pem.pub")
    ok("sign", "--key", d / "rel.pem", "--version", "1.0.0", "--security-version", 1, "--board", "esp32-4mb",
       fw, "-o", d / "app.mpb")
    ok("device-files", "--board", "esp32-4mb", "-o", d / "dev")
    ok("flash-image", "--board", "esp32-4mb", "--app", d / "app.mpb", "--firmware", fw, "--root", d / "root.json",
       "--files", d / "dev", "-o", d / "flash.bin")
    ok("repo", "init", d / "repo", "--key-dir", d / "repo-keys")

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / "rsa.pem").write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    (d / "rsa.pub").write_bytes(rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    rng = random.Random(12)
    (d / "empty").write_bytes(b"")
    (d / "garbage").write_bytes(bytes(rng.randrange(256) for _ in range(5000)))
    (d / "json-garbage.json").write_text('{"signed": {"_type": "root", "keys": [1, 2,')
    (d / "json-other.json").write_text('{"signed": {"_type": "targets"}, "signatures": 7}')
    (d / "deep.json").write_text("[" * 200000 + "]" * 200000)
    (d / "deep-root.json").write_text('{"signatures": [], "signed": ' + '{"a": ' * 100000 + "1" + "}" * 100001)
    with open(d / "huge", "wb") as f:  # sparse: 64 MiB of zeros that cost no disk
        f.truncate(64 << 20)
    app = (d / "app.mpb").read_bytes()
    (d / "half.mpb").write_bytes(app[:len(app) // 2])
    (d / "half-root.json").write_bytes((d / "root.json").read_bytes()[:200])
    (d / "half-flash.bin").write_bytes((d / "flash.bin").read_bytes()[:0x9000])
    (d / "half-fw.bin").write_bytes(fw.read_bytes()[:0x3000])  # cut inside the bootloader
    (d / "adir").mkdir()
    (d / "kd-stray").mkdir()
    (d / "kd-stray" / "targets.pem.pub").write_bytes((d / "rel.pem.pub").read_bytes())
    (d / "afile").write_text("a file, not a directory\n")
    ok("serve", d / "repo", "--tls-dir", d / "tls", "--issue-client-cert", "dev1")
    (d / "tls-garbage").mkdir()
    for name in ("ca.pem", "ca.key", "server.pem", "server.key"):
        (d / "tls-garbage" / name).write_bytes((d / "garbage").read_bytes())
    # A repository whose timestamp is garbage and one whose root is nested too deep to parse.
    for name, victim, text in (("repo-bad-ts", "timestamp.json", "{garbage"),
                               ("repo-deep-root", "1.root.json", (d / "deep-root.json").read_text())):
        subprocess.run(["cp", "-a", str(d / "repo"), str(d / name)], check=True)
        (d / name / "metadata" / victim).write_text(text)
    paths = {p.name: str(p) for p in d.iterdir()}
    paths.update(fw=str(fw), d=str(d))
    return paths


# (command path, case id, argv template). {name} is a file made by `w` ({d} its directory),
# {out} a file and {o} a directory in this case's own empty directory. Each must fail.
CASES = [
    # keygen
    ("keygen", "exists", "keygen {rel.pem}"),
    ("keygen", "bad-type", "keygen {out} --type rsa"),
    ("keygen", "token-force", "keygen pkcs11:token=none;object=k --force"),
    ("keygen", "uri-no-token", "keygen pkcs11:object=k"),
    ("pubkey", "missing", "pubkey {o}/absent.pem"),
    ("pubkey", "garbage", "pubkey {garbage}"),
    ("pubkey", "exists", "pubkey {rel.pem} -o {rel.pem.pub}"),
    ("pubkey", "protection-of-a-file", "pubkey {rel.pem} --protection"),
    ("pubkey", "unknown-uri-attribute", "pubkey pkcs11:token=t;object=k;slot=1"),
    ("pubkey", "module-missing", "pubkey pkcs11:token=t;object=k?module-path={o}/none.so"),
    ("keygen", "pub-exists", "keygen {d}/rel.pem.pub"),
    ("keygen", "is-a-dir", "keygen {adir}"),
    ("keygen", "missing-dir", "keygen {o}/missing/k.pem"),
    ("keygen", "under-a-file", "keygen {afile}/k.pem"),
    ("keygen", "unwritable-dir", "keygen /sys/k.pem"),
    ("keygen", "passphrase-unset", "keygen {out} --passphrase-env " + UNSET_VAR),
    # root init
    ("root init", "exists", "root init {root.json} --root-key {root.pem} --targets-key {rel.pem.pub}"),
    ("root init", "missing-key", "root init {out} --root-key {o}/nope.pem --targets-key {rel.pem.pub}"),
    ("root init", "key-is-dir", "root init {out} --root-key {adir} --targets-key {rel.pem.pub}"),
    ("root init", "public-root-key", "root init {out} --root-key {rel.pem.pub} --targets-key {rel.pem.pub}"),
    ("root init", "rsa-root-key", "root init {out} --root-key {rsa.pem} --targets-key {rel.pem.pub}"),
    ("root init", "rsa-targets-key", "root init {out} --root-key {root.pem} --targets-key {rsa.pub}"),
    ("root init", "garbage-key", "root init {out} --root-key {garbage} --targets-key {rel.pem.pub}"),
    ("root init", "empty-key", "root init {out} --root-key {root.pem} --targets-key {empty}"),
    ("root init", "huge-key", "root init {out} --root-key {huge} --targets-key {rel.pem.pub}"),
    ("root init", "encrypted-no-pass", "root init {out} --root-key {enc.pem} --targets-key {rel.pem.pub}"),
    ("root init", "wrong-pass", "root init {out} --root-key {enc.pem} --targets-key {rel.pem.pub} "
     "--passphrase-env PATH"),
    ("root init", "threshold-0", "root init {out} --root-key {root.pem} --targets-key {rel.pem.pub} "
     "--targets-threshold 0"),
    ("root init", "threshold-too-high", "root init {out} --root-key {root.pem} --targets-key {rel.pem.pub} "
     "--root-threshold 2"),
    ("root init", "threshold-not-a-number", "root init {out} --root-key {root.pem} --targets-key {rel.pem.pub} "
     "--root-threshold x"),
    ("root init", "expires-bad", "root init {out} --root-key {root.pem} --targets-key {rel.pem.pub} --expires 1y"),
    ("root init", "expires-0", "root init {out} --root-key {root.pem} --targets-key {rel.pem.pub} --expires 0d"),
    ("root init", "expires-huge", "root init {out} --root-key {root.pem} --targets-key {rel.pem.pub} "
     "--expires 99999999d"),
    ("root init", "version-0", "root init {out} --root-key {root.pem} --targets-key {rel.pem.pub} --version 0"),
    ("root init", "version-huge", "root init {out} --root-key {root.pem} --targets-key {rel.pem.pub} "
     "--version 99999999999999999999999"),
    ("root init", "missing-dir", "root init {o}/missing/r.json --root-key {root.pem} --targets-key {rel.pem.pub}"),
    ("root init", "unwritable-dir", "root init /sys/r.json --root-key {root.pem} --targets-key {rel.pem.pub}"),
    # root show
    ("root show", "missing", "root show {o}/nope.json"),
    ("root show", "is-a-dir", "root show {adir}"),
    ("root show", "empty", "root show {empty}"),
    ("root show", "garbage", "root show {garbage}"),
    ("root show", "json-garbage", "root show {json-garbage.json}"),
    ("root show", "json-other", "root show {json-other.json}"),
    ("root show", "deep", "root show {deep.json}"),
    ("root show", "deep-root", "root show {deep-root.json}"),
    ("root show", "huge", "root show {huge}"),
    ("root show", "truncated", "root show {half-root.json}"),
    ("root show", "a-key", "root show {rel.pem}"),
    # sign
    ("sign", "missing-input", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{o}/nope.bin -o {out}"),
    ("sign", "input-is-dir", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{adir} -o {out}"),
    ("sign", "empty-input", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{empty} -o {out}"),
    ("sign", "garbage-input", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{garbage} -o {out}"),
    ("sign", "huge-input", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{huge} -o {out}"),
    ("sign", "truncated-input", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{half-fw.bin} -o {out}"),
    ("sign", "signed-input", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{app.mpb} -o {out}"),
    ("sign", "public-key", "sign --key {rel.pem.pub} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out}"),
    ("sign", "rsa-key", "sign --key {rsa.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out}"),
    ("sign", "garbage-key", "sign --key {garbage} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out}"),
    ("sign", "missing-key", "sign --key {o}/k.pem --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out}"),
    ("sign", "encrypted-no-pass", "sign --key {enc.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out}"),
    ("sign", "wrong-pass", "sign --key {enc.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out} --passphrase-env PATH"),
    ("sign", "bad-version", "sign --key {rel.pem} --version 1.x --security-version 1 --board esp32-4mb "
     "{fw} -o {out}"),
    ("sign", "secver-negative", "sign --key {rel.pem} --version 1.0.0 --security-version -1 --board esp32-4mb "
     "{fw} -o {out}"),
    ("sign", "secver-too-big", "sign --key {rel.pem} --version 1.0.0 --security-version 4294967296 "
     "--board esp32-4mb {fw} -o {out}"),
    ("sign", "secver-not-a-number", "sign --key {rel.pem} --version 1.0.0 --security-version one "
     "--board esp32-4mb {fw} -o {out}"),
    ("sign", "unknown-board", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp99 "
     "{fw} -o {out}"),
    ("sign", "other-chip", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32s3 "
     "{fw} -o {out}"),
    ("sign", "root-garbage", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out} --root {json-garbage.json}"),
    ("sign", "root-deep", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out} --root {deep-root.json}"),
    ("sign", "root-not-signer", "sign --key {root.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {out} --root {root.json}"),
    ("sign", "output-exists", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {app.mpb}"),
    ("sign", "output-is-dir", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {adir}"),
    ("sign", "output-missing-dir", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o {o}/missing/app.mpb"),
    ("sign", "output-unwritable", "sign --key {rel.pem} --version 1.0.0 --security-version 1 --board esp32-4mb "
     "{fw} -o /sys/app.mpb"),
    # verify
    ("verify", "missing", "verify --root {root.json} {o}/nope.mpb"),
    ("verify", "is-a-dir", "verify --root {root.json} {adir}"),
    ("verify", "empty", "verify --root {root.json} {empty}"),
    ("verify", "garbage", "verify --root {root.json} {garbage}"),
    ("verify", "huge", "verify --root {root.json} {huge}"),
    ("verify", "truncated", "verify --root {root.json} {half.mpb}"),
    ("verify", "unsigned", "verify --root {root.json} {fw}"),
    ("verify", "root-missing", "verify --root {o}/nope.json {app.mpb}"),
    ("verify", "root-empty", "verify --root {empty} {app.mpb}"),
    ("verify", "root-deep", "verify --root {deep.json} {app.mpb}"),
    ("verify", "root-deep-root", "verify --root {deep-root.json} {app.mpb}"),
    ("verify", "root-truncated", "verify --root {half-root.json} {app.mpb}"),
    ("verify", "root-is-a-key", "verify --root {rel.pem.pub} {app.mpb}"),
    ("verify", "pubkey-rsa", "verify --pubkey {rsa.pub} {app.mpb}"),
    ("verify", "pubkey-garbage", "verify --pubkey {garbage} {app.mpb}"),
    ("verify", "pubkey-other", "verify --pubkey {root.pem.pub} {app.mpb}"),
    ("verify", "pubkey-encrypted", "verify --pubkey {enc.pem} {app.mpb}"),
    ("verify", "floor-negative", "verify --root {root.json} {app.mpb} --security-floor -1"),
    ("verify", "floor-too-big", "verify --root {root.json} {app.mpb} --security-floor 4294967296"),
    ("verify", "floor-above", "verify --root {root.json} {app.mpb} --security-floor 2"),
    ("verify", "unknown-board", "verify --root {root.json} {app.mpb} --board esp99"),
    ("verify", "no-trust", "verify {app.mpb}"),
    # inspect
    ("inspect", "missing", "inspect {o}/nope.mpb"),
    ("inspect", "is-a-dir", "inspect {adir}"),
    ("inspect", "root-garbage", "inspect {app.mpb} --root {garbage}"),
    ("inspect", "root-deep", "inspect {app.mpb} --root {deep-root.json}"),
    ("inspect", "pubkey-rsa", "inspect {app.mpb} --pubkey {rsa.pub}"),
    ("inspect", "extract-no-sector", "inspect {app.mpb} --extract-app {out}"),
    ("inspect", "extract-garbage", "inspect {garbage} --extract-app {out}"),
    ("inspect", "extract-empty", "inspect {empty} --extract-app {out}"),
    ("inspect", "extract-exists", "inspect {app.mpb} --extract-app {half.mpb}"),
    # repo init
    ("repo init", "already-a-repository", "repo init {repo}"),
    ("repo init", "root-garbage", "repo init {o}/r --root {garbage}"),
    ("repo init", "root-deep", "repo init {o}/r --root {deep-root.json}"),
    ("repo init", "root-missing", "repo init {o}/r --root {o}/nope.json"),
    ("repo init", "root-without-keys", "repo init {o}/r --root {root.json}"),
    ("repo init", "public-targets-key", "repo init {o}/r --targets-key {rel.pem.pub}"),
    ("repo init", "rsa-targets-key", "repo init {o}/r --targets-key {rsa.pem}"),
    ("repo init", "encrypted-no-pass", "repo init {o}/r --targets-key {enc.pem}"),
    ("repo init", "threshold-0", "repo init {o}/r --targets-threshold 0"),
    ("repo init", "threshold-negative", "repo init {o}/r --targets-threshold -1"),
    ("repo init", "expires-bad", "repo init {o}/r --timestamp-expires soon"),
    ("repo init", "expires-0", "repo init {o}/r --timestamp-expires 0d"),
    ("repo init", "key-dir-is-a-file", "repo init {o}/r --key-dir {afile}"),
    ("repo init", "under-a-file", "repo init {afile}/r"),
    ("repo init", "stray-public-key", "repo init {o}/r --key-dir {kd-stray}"),
    ("repo init", "passphrase-unset", "repo init {o}/r --passphrase-env " + UNSET_VAR),
    # repo actions
    ("repo timestamp", "missing", "repo timestamp {o}/nope"),
    ("repo timestamp", "a-file", "repo timestamp {afile}"),
    ("repo timestamp", "garbage-timestamp", "repo timestamp {repo-bad-ts}"),
    ("repo timestamp", "deep-root", "repo timestamp {repo-deep-root}"),
    ("repo timestamp", "wrong-key", "repo timestamp {repo} --timestamp-key {rel.pem}"),
    ("repo timestamp", "rsa-key", "repo timestamp {repo} --timestamp-key {rsa.pem}"),
    ("repo timestamp", "expires-0", "repo timestamp {repo} --expires 0s"),
    ("repo renew", "missing", "repo renew {o}/nope --role targets"),
    ("repo renew", "bad-role", "repo renew {repo} --role mirror"),
    ("repo renew", "expires-bad", "repo renew {repo} --role targets --expires -3d"),
    ("repo renew", "wrong-key", "repo renew {repo} --role targets --targets-key {rel.pem}"),
    ("repo renew", "deep-root", "repo renew {repo-deep-root} --role timestamp"),
    ("repo rotate", "missing", "repo rotate {o}/nope --role targets --add-key {rel.pem}"),
    ("repo rotate", "add-garbage", "repo rotate {repo} --role targets --add-key {garbage}"),
    ("repo rotate", "add-rsa", "repo rotate {repo} --role targets --add-key {rsa.pub}"),
    ("repo rotate", "remove-unknown", "repo rotate {repo} --role targets --remove-key 0123456789abcdef"),
    ("repo rotate", "threshold-0", "repo rotate {repo} --role targets --threshold 0"),
    ("repo rotate", "threshold-negative", "repo rotate {repo} --role timestamp --threshold -1"),
    ("repo rotate", "threshold-too-high", "repo rotate {repo} --role targets --threshold 5"),
    ("repo rotate", "nothing", "repo rotate {repo} --role targets"),
    ("repo prune", "missing", "repo prune {o}/nope --keep 1"),
    ("repo prune", "keep-0", "repo prune {repo} --keep 0"),
    ("repo prune", "keep-negative", "repo prune {repo} --keep -1"),
    ("repo prune", "garbage-timestamp", "repo prune {repo-bad-ts} --keep 1"),
    ("repo status", "missing", "repo status {o}/nope"),
    ("repo status", "a-file", "repo status {afile}"),
    ("repo status", "deep-root", "repo status {repo-deep-root}"),
    ("repo delegate", "bad-name", "repo delegate {repo} Bad --paths a/*/* --key {rel.pem}"),
    ("repo delegate", "top-level-name", "repo delegate {repo} snapshot --paths a/*/* --key {rel.pem}"),
    ("repo delegate", "two-part-pattern", "repo delegate {repo} b --paths a/* --key {rel.pem}"),
    ("repo delegate", "absolute-pattern", "repo delegate {repo} b --paths /a/*/* --key {rel.pem}"),
    ("repo delegate", "dotdot-pattern", "repo delegate {repo} b --paths a/../* --key {rel.pem}"),
    ("repo delegate", "key-missing", "repo delegate {repo} b --paths a/*/* --key {o}/nope.pem"),
    ("repo delegate", "key-garbage", "repo delegate {repo} b --paths a/*/* --key {garbage}"),
    ("repo delegate", "key-rsa", "repo delegate {repo} b --paths a/*/* --key {rsa.pem}"),
    ("repo delegate", "top-level-key", "repo delegate {repo} b --paths a/*/* --key {d}/repo-keys/snapshot.pem"),
    ("repo delegate", "threshold-too-high", "repo delegate {repo} b --paths a/*/* --key {rel.pem} --threshold 2"),
    ("repo delegate", "threshold-0", "repo delegate {repo} b --paths a/*/* --key {rel.pem} --threshold 0"),
    ("repo delegate", "bins-not-power-of-2", "repo delegate {repo} b --paths a/*/* --key {rel.pem} --hashed-bins 12"),
    ("repo delegate", "too-many-bins", "repo delegate {repo} b --paths a/*/* --key {rel.pem} --hashed-bins 1024"),
    ("repo delegate", "unknown-parent", "repo delegate {repo} b --paths a/*/* --key {rel.pem} --from nope"),
    ("repo delegate", "bad-delegated-key", "repo delegate {repo} b --paths a/*/* --key {rel.pem} --delegated-key b"),
    ("repo delegate", "public-key-only", "repo delegate {repo} b --paths a/*/* --key {d}/kd-stray/targets.pem.pub"),
    ("repo delegate", "garbage-timestamp", "repo delegate {repo-bad-ts} b --paths a/*/* --key {rel.pem}"),
    ("repo rotate-delegation", "missing", "repo rotate-delegation {o}/nope b --threshold 1"),
    ("repo rotate-delegation", "not-delegated", "repo rotate-delegation {repo} targets --threshold 1"),
    ("repo rotate-delegation", "unknown-role", "repo rotate-delegation {repo} nope --add-key {rel.pem}"),
    ("repo rotate-delegation", "nothing", "repo rotate-delegation {repo} b"),
    ("publish", "unknown-role", "publish {repo} {app.mpb} --channel stable --role nope"),
    ("publish", "bad-delegated-key", "publish {repo} {app.mpb} --channel stable --delegated-key x.pem"),
    # bundle
    ("bundle", "exists", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {rel.pem} -o {app.mpb}"),
    ("bundle", "appdir-missing", "bundle {o}/nope --name a --version 1.0.0 --security-version 1 --key {rel.pem} -o {out}"),
    ("bundle", "appdir-is-file", "bundle {afile} --name a --version 1.0.0 --security-version 1 --key {rel.pem} -o {out}"),
    ("bundle", "appdir-empty", "bundle {adir} --name a --version 1.0.0 --security-version 1 --key {rel.pem} -o {out}"),
    ("bundle", "reserved-path", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {rel.pem} -o {out}"),
    ("bundle", "public-key", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {rel.pem.pub} -o {out}"),
    ("bundle", "garbage-key", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {garbage} -o {out}"),
    ("bundle", "encrypted-no-pass", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {enc.pem} -o {out}"),
    ("bundle", "root-garbage", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {rel.pem} --root {garbage} -o {out}"),
    ("bundle", "output-is-dir", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {rel.pem} -o {adir}"),
    ("bundle", "mpy-version-alone", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {rel.pem} --mpy-version 6.3 -o {out}"),
    ("bundle", "firmware-garbage", "bundle {dev} --name a --version 1.0.0 --security-version 1 --key {rel.pem} --mpy --firmware {garbage} -o {out}"),
    # publish
    ("publish", "missing-repo", "publish {o}/nope {app.mpb} --channel stable"),
    ("publish", "missing-image", "publish {repo} {o}/nope.mpb --channel stable"),
    ("publish", "garbage-image", "publish {repo} {garbage} --channel stable"),
    ("publish", "empty-image", "publish {repo} {empty} --channel stable"),
    ("publish", "image-is-dir", "publish {repo} {adir} --channel stable"),
    ("publish", "not-signed-by-repo", "publish {repo} {app.mpb} --channel stable"),
    ("publish", "bad-channel", "publish {repo} {app.mpb} --channel ../x"),
    ("publish", "keep-0", "publish {repo} {app.mpb} --channel stable --keep 0"),
    ("publish", "garbage-timestamp", "publish {repo-bad-ts} {app.mpb} --channel stable"),
    # device-files
    ("device-files", "unknown-board", "device-files --board esp99 -o {o}/dev"),
    ("device-files", "output-is-a-file", "device-files --board esp32-4mb -o {afile}"),
    ("device-files", "under-a-file", "device-files --board esp32-4mb -o {afile}/dev"),
    ("device-files", "output-exists", "device-files --board esp32-4mb -o {dev}"),
    ("device-files", "unwritable", "device-files --board esp32-4mb -o /sys/dev"),
    ("device-files", "app-missing", "device-files --board esp32-4mb --app {o}/nope -o {o}/dev"),
    ("device-files", "app-a-file", "device-files --board esp32-4mb --app {afile} -o {o}/dev"),
    ("device-files", "health-bad", "device-files --board esp32-4mb --health 'not a function' -o {o}/dev"),
    ("device-files", "health-ms-negative", "device-files --board esp32-4mb --health a:b --health-ms -5 -o {o}/dev"),
    ("device-files", "channel-bad", "device-files --board esp32-4mb --channel ../x -o {o}/dev"),
    ("device-files", "url-without-ca", "device-files --board esp32-4mb --update-url https://a.lan/ -o {o}/dev"),
    ("device-files", "url-http", "device-files --board esp32-4mb --update-url http://a.lan/ --update-ca {rel.pem.pub} "
     "-o {o}/dev"),
    ("device-files", "ca-garbage", "device-files --board esp32-4mb --update-url https://a.lan/ --update-ca {garbage} "
     "-o {o}/dev"),
    ("device-files", "ca-missing", "device-files --board esp32-4mb --update-url https://a.lan/ --update-ca {o}/ca.pem "
     "-o {o}/dev"),
    ("device-files", "tls-dir-a-file", "device-files --board esp32-4mb --update-url https://a.lan/ --tls-dir {afile} "
     "-o {o}/dev"),
    ("device-files", "stale-after-bad", "device-files --board esp32-4mb --update-url https://a.lan/ "
     "--update-ca {rel.pem.pub} --stale-after forever -o {o}/dev"),
    ("device-files", "token-unset", "device-files --board esp32-4mb --update-url https://a.lan/ "
     "--update-ca {rel.pem.pub} --token-env " + UNSET_VAR + " -o {o}/dev"),
    # flash-image
    ("flash-image", "app-missing", "flash-image --board esp32-4mb --app {o}/nope.mpb --firmware {fw} -o {out}"),
    ("flash-image", "app-garbage", "flash-image --board esp32-4mb --app {garbage} --firmware {fw} -o {out}"),
    ("flash-image", "app-empty", "flash-image --board esp32-4mb --app {empty} --firmware {fw} -o {out}"),
    ("flash-image", "app-huge", "flash-image --board esp32-4mb --app {huge} --firmware {fw} -o {out}"),
    ("flash-image", "app-truncated", "flash-image --board esp32-4mb --app {half.mpb} --firmware {fw} -o {out}"),
    ("flash-image", "firmware-garbage", "flash-image --board esp32-4mb --app {app.mpb} --firmware {garbage} -o {out}"),
    ("flash-image", "firmware-truncated", "flash-image --board esp32-4mb --app {app.mpb} --firmware {half-fw.bin} "
     "-o {out}"),
    ("flash-image", "firmware-is-dir", "flash-image --board esp32-4mb --app {app.mpb} --firmware {adir} -o {out}"),
    ("flash-image", "root-garbage", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} "
     "--root {json-garbage.json} -o {out}"),
    ("flash-image", "root-deep", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} "
     "--root {deep-root.json} -o {out}"),
    ("flash-image", "files-missing", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} "
     "--files {o}/nope -o {out}"),
    ("flash-image", "files-a-file", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} "
     "--files {afile} -o {out}"),
    ("flash-image", "other-board", "flash-image --board esp32s3-8mb --app {app.mpb} --firmware {fw} -o {out}"),
    ("flash-image", "floor-negative", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} "
     "--root {root.json} --security-floor -1 -o {out}"),
    ("flash-image", "time-floor-negative", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} "
     "--root {root.json} --time-floor -1 -o {out}"),
    ("flash-image", "time-floor-huge", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} "
     "--root {root.json} --time-floor 99999999999999999999 -o {out}"),
    ("flash-image", "output-exists", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} -o {flash.bin}"),
    ("flash-image", "output-missing-dir", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} "
     "-o {o}/missing/f.bin"),
    # serve (each must fail before it would start serving)
    ("serve", "missing-repo", "serve {o}/nope --port 0 --tls-dir {o}/tls"),
    ("serve", "repo-a-file", "serve {afile} --port 0 --tls-dir {o}/tls"),
    ("serve", "port-out-of-range", "serve {repo} --port 70000"),
    ("serve", "port-negative", "serve {repo} --port -1"),
    ("serve", "timeout-0", "serve {repo} --port 0 --timeout 0"),
    ("serve", "deadline-negative", "serve {repo} --port 0 --request-deadline -1"),
    ("serve", "max-connections-0", "serve {repo} --port 0 --max-connections 0"),
    ("serve", "tls-dir-a-file", "serve {repo} --port 0 --tls-dir {afile}"),
    ("serve", "tls-dir-garbage", "serve {repo} --port 0 --tls-dir {tls-garbage}"),
    ("serve", "client-ca-garbage", "serve {repo} --port 0 --tls-dir {tls} --client-ca {garbage}"),
    ("serve", "client-ca-missing", "serve {repo} --port 0 --tls-dir {tls} --client-ca {o}/nope.pem"),
    ("serve", "client-cert-name", "serve {repo} --tls-dir {o}/tls --issue-client-cert ../x"),
    ("serve", "client-cert-exists", "serve {repo} --tls-dir {tls} --issue-client-cert dev1"),
    ("serve", "force-without-cert", "serve {repo} --port 0 --tls-dir {tls} --force"),
    ("serve", "bad-host", "serve {repo} --port 0 --host 999.1.1.1 --insecure-http"),
    # flash (esptool)
    ("flash", "missing-image", "flash --port /dev/null {o}/nope.bin"),
    ("flash", "image-is-dir", "flash --port /dev/null {adir}"),
    ("flash", "garbage-image", "flash --port /dev/null {garbage}"),
    ("flash", "huge-image", "flash --port /dev/null {huge}"),
    ("flash", "truncated-image", "flash --port /dev/null {half-flash.bin}"),
    ("flash", "other-board", "flash --port /dev/null {flash.bin} --board esp32s3-8mb"),
    ("flash", "baud-0", "flash --port /dev/null {flash.bin} --baud 0"),
    ("flash", "json-without-dry-run", "flash --port /dev/null {flash.bin} --json"),
    ("flash", "port-missing", "flash --port {o}/ttyNOPE {flash.bin} --connect-attempts 1"),
    ("flash", "port-dev-null", "flash --port /dev/null {flash.bin} --connect-attempts 1"),
    ("flash", "port-a-file", "flash --port {afile} {flash.bin} --connect-attempts 1"),
    # emulate
    ("emulate", "missing", "emulate {o}/nope.bin"),
    ("emulate", "is-a-dir", "emulate {adir}"),
    ("emulate", "empty", "emulate {empty}"),
    ("emulate", "garbage", "emulate {garbage}"),
    ("emulate", "truncated", "emulate {half-flash.bin}"),
    ("emulate", "huge-zeros", "emulate {huge}"),
    ("emulate", "wrong-board-size", "emulate {garbage} --board esp32-4mb"),
    ("emulate", "boots-0", "emulate {flash.bin} --boots 0"),
    ("emulate", "cut-negative", "emulate {flash.bin} --cut-at -1"),
    ("emulate", "timeout-0", "emulate {flash.bin} --timeout 0"),
    ("emulate", "unknown-board", "emulate {flash.bin} --board esp99"),
    ("emulate", "link-without-serial", "emulate {flash.bin} --serial-link {o}/tty"),
    ("emulate", "serial-with-json", "emulate {flash.bin} --serial --json"),
    ("emulate", "download-missing-no-board", "emulate {o}/new.bin --serial --download"),
    # provision
    ("provision", "port-missing", "provision --port {o}/ttyNOPE --root {root.json}"),
    ("provision", "port-dev-null", "provision --port /dev/null --root {root.json}"),
    ("provision", "port-a-file", "provision --port {afile} --root {root.json}"),
    ("provision", "root-garbage", "provision --port /dev/null --root {garbage}"),
    ("provision", "root-deep", "provision --port /dev/null --root {deep-root.json}"),
    ("provision", "root-missing", "provision --port /dev/null --root {o}/nope.json"),
    ("provision", "floor-without-root", "provision --port /dev/null --security-floor 3"),
    ("provision", "floor-negative", "provision --port /dev/null --root {root.json} --security-floor -3"),
    ("provision", "baud-0", "provision --port /dev/null --baud 0"),
    ("provision", "app-missing", "provision --port /dev/null --app {o}/nope"),
    # install
    ("install", "image-missing", "install --flash {flash.bin} {o}/nope.mpb"),
    ("install", "image-is-dir", "install --flash {flash.bin} {adir}"),
    ("install", "flash-missing", "install --flash {o}/nope.bin {app.mpb}"),
    ("install", "flash-garbage", "install --flash {garbage} {app.mpb}"),
    ("install", "flash-empty", "install --flash {empty} {app.mpb}"),
    ("install", "flash-and-port", "install --flash {flash.bin} --port /dev/null {app.mpb}"),
    ("install", "timeout-0", "install --flash {flash.bin} {app.mpb} --timeout 0"),
    ("install", "port-missing", "install --port {o}/ttyNOPE {app.mpb} --timeout 1"),
    ("install", "port-dev-null", "install --port /dev/null {app.mpb} --timeout 1"),
    ("install", "port-a-file", "install --port {afile} {app.mpb} --timeout 1"),
    ("install", "baud-0", "install --port /dev/null {app.mpb} --baud 0"),
    # log
    ("log", "missing", "log {o}/nope.bin"),
    ("log", "is-a-dir", "log {adir}"),
    ("log", "empty", "log {empty}"),
    ("log", "garbage", "log {garbage}"),
    ("log", "truncated", "log {half-flash.bin}"),
    ("log", "huge-zeros", "log {huge}"),
    ("log", "a-signed-image", "log {app.mpb}"),
    ("log", "unknown-board", "log {flash.bin} --board esp99"),
    ("log", "other-board", "log {flash.bin} --board esp32s3-8mb"),
]

# What the line must say where a clean-looking line could still be the wrong one.
MATCH = {
    ("bundle", "reserved-path"): "reserved-path: 'boot.py'",
    ("bundle", "appdir-empty"): "holds no files",
    ("provision", "app-missing"): "is not a directory: give the directory holding main.py",
    ("keygen", "is-a-dir"): "it is a directory",
    ("sign", "output-is-dir"): "it is a directory",
    ("root init", "threshold-0"): "--targets-threshold must be at least 1",
    ("repo init", "threshold-0"): "--targets-threshold must be at least 1",
    ("repo rotate", "threshold-0"): "--threshold must be at least 1",
    ("repo rotate", "threshold-negative"): "--threshold must be at least 1",
    ("repo timestamp", "a-file"): "not a repository",
    ("repo init", "stray-public-key"): "without its private key",
    ("repo status", "a-file"): "not a repository",
    ("verify", "floor-negative"): "--security-floor must be from 0",
    ("flash", "port-missing"): "does not exist",
    ("flash", "port-dev-null"): "is not a serial port",
    ("flash", "port-a-file"): "is not a serial port",
}


def _argv(template, w, case_dir):
    names = dict(w, out=str(case_dir / "out"), o=str(case_dir))
    return [re.sub(r"\{([^{}]+)\}", lambda m: names[m.group(1)], part) for part in shlex.split(template)]


def _snapshot(*dirs):
    """Every file under `dirs` with its size and mtime: what a failed command must not change."""
    seen = {}
    for top in dirs:
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st = p.lstat()
                seen[str(p)] = (st.st_size, st.st_mtime_ns) if p.is_file() else "dir"
    return seen


class _Hung(Exception):
    pass


def _alarm(signum, frame):
    raise _Hung("still running after %d s" % CASE_SECONDS)


def run_in_process(argv, capfd):
    """(exit status, stdout, stderr) of `mpboot ARGV`; an exception that escapes main is a failure."""
    capfd.readouterr()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    except BaseException:
        out, err = capfd.readouterr()
        pytest.fail("mpboot %s raised instead of printing one error line:\n%s%s"
                    % (" ".join(argv), err, traceback.format_exc()))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capfd.readouterr()
    return code, out, err


def check_clean_failure(argv, code, out, err):
    shown = "mpboot %s\nexit %r\nstdout: %s\nstderr: %s" % (" ".join(argv), code, out[-2000:], err[-2000:])
    assert "Traceback" not in err, shown
    lines = err.splitlines()
    if code == 2:  # argparse: usage, then `mpboot ...: error: ...`
        assert lines and lines[0].startswith("usage: mpboot") and ": error: " in lines[-1], shown
        return
    assert code == 1, shown
    assert len(lines) == 1 and lines[0].startswith("mpboot: error: "), shown


def _case(entry):
    return entry.values if hasattr(entry, "values") else entry


@pytest.mark.parametrize("command,case,template", CASES,
                         ids=["%s:%s" % (_case(c)[0].replace(" ", "-"), _case(c)[1]) for c in CASES])
def test_bad_input_is_one_error_line(w, tmp_path, capfd, command, case, template):
    argv = _argv(template, w, tmp_path)
    before = _snapshot(tmp_path, w["d"])
    code, out, err = run_in_process(argv, capfd)
    check_clean_failure(argv, code, out, err)
    if case.endswith("exists"):
        assert "--force" in err, err
    assert MATCH.get((command, case), "") in err, (MATCH[command, case], err)
    after = _snapshot(tmp_path, w["d"])
    assert after == before, ("mpboot %s changed files: added %s, removed %s, modified %s" % (
        " ".join(argv), sorted(set(after) - set(before)), sorted(set(before) - set(after)),
        sorted(k for k in set(after) & set(before) if after[k] != before[k])))


def test_every_command_has_bad_inputs():
    assert set(MATCH) <= {tuple(_case(c)[:2]) for c in CASES}
    covered = {tuple(_case(c)[0].split()) for c in CASES}
    missing = [" ".join(c) for c in leaf_commands() if c not in covered]
    assert not missing, "commands without bad inputs in CASES: %s" % ", ".join(missing)
    assert len(leaf_commands()) >= 20  # the walk found the nested ones (root init, repo status...)


# -- --force: replaces an output that exists, whole ------------------------------------------

FORCED = [
    ("keygen", "keygen {k} --force", "rel.pem"),
    ("root init", "root init {k} --root-key {root.pem} --targets-key {root.pem.pub} --force", "root.json"),
    ("sign", "sign --key {root.pem} --version 2.0.0 --security-version 2 --board esp32 {fw} -o {k} --force", "app.mpb"),
    ("flash-image", "flash-image --board esp32-4mb --app {app.mpb} --firmware {fw} -o {k} --force", "flash.bin"),
]


@pytest.mark.parametrize("command,template,model", FORCED, ids=[c for c, _, _ in FORCED])
def test_force_replaces_the_output_whole(w, tmp_path, capfd, command, template, model):
    target = tmp_path / model
    target.write_bytes(b"the old contents\n")
    argv = _argv(template.replace("{k}", str(target)), w, tmp_path)
    code, out, err = run_in_process([a for a in argv if a != "--force"], capfd)
    assert code == 1 and "--force" in err and target.read_bytes() == b"the old contents\n", err
    code, out, err = run_in_process(argv, capfd)
    assert code == 0, err
    assert target.read_bytes() != b"the old contents\n" and target.stat().st_size > 32
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({model, model + ".pub"} & {
        p.name for p in tmp_path.iterdir()}), "temporary files left: %s" % list(tmp_path.iterdir())
    if command == "keygen":
        assert target.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / (model + ".pub")).read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_force_is_in_the_help_of_every_command_that_writes_a_file():
    parser = cli.build_parser()
    for path in (("keygen",), ("root", "init"), ("sign",), ("flash-image",), ("inspect",), ("serve",), ("bundle",)):
        p = parser
        for name in path:
            p = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
        force = [a for a in p._actions if "--force" in a.option_strings]
        assert force and "replace" in force[0].help, path


# -- a closed standard output -----------------------------------------------------------------

def _mpboot(argv, **kwargs):
    return subprocess.run([sys.executable, "-m", "mpboot", *argv], stderr=subprocess.PIPE, text=True, timeout=120,
                          **kwargs)


@pytest.mark.parametrize("template", ["root show {root.json}", "verify --root {root.json} {app.mpb}",
                                      "keygen {out}"], ids=["root-show", "verify", "keygen"])
def test_closed_stdout(w, tmp_path, template):
    """Started with descriptor 1 closed (`>&-`): refused before anything is done, as one line;
    into a pipe whose reader is gone: exit 1 and no traceback."""
    argv = _argv(template, w, tmp_path)
    proc = _mpboot(argv, stdout=None, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("mpboot: error: standard output is closed") and proc.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = _mpboot(argv, stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
