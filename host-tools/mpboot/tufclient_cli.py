"""The device's TUF client behind the tuf-conformance client interface (CLIENT-CLI.md).

    mpboot-tuf-client --metadata-dir D init TRUSTED_ROOT
    mpboot-tuf-client --metadata-url URL --metadata-dir D refresh
    mpboot-tuf-client --metadata-url URL --metadata-dir D --target-name P [--target-name P2 ...] \\
        --target-dir T --target-base-url TURL download

(also `python -m mpboot.tufclient_cli`). Options may come in any order. Exit 0 on success, 1 on
any failure, with one line on stderr naming it.

Everything that decides trust is the firmware's: mpboot_fw.tuf (checks) and mpboot_fw.tufclient
(the workflow, byte caps included); this file only supplies what a device supplies differently:
plain-HTTP fetching (urllib; the suite serves http://127.0.0.1), metadata kept as files in D
(`root.json`, `timestamp.json`, `snapshot.json`, `targets.json`, and `ROLE.json` for each
delegated role the search loads, its name URL-quoted as python-tuf does; the exact bytes
received), and the clock: time.time(), read once, so libfaketime moves it. Targets are found by
the device's search (tufclient.target_info: delegations walked pre-order depth first).
"""

import argparse
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write, read_input
from mpboot_fw import tuf, tufclient
from mpboot_fw.trust import TrustError

CHUNK = 4096
TIMEOUT = 30  # seconds per request; the suite's server answers at once


class DownloadError(Exception):
    pass


class MetadataDir:
    """The store of mpboot_fw.tufclient over a directory: ROLE.json (the role name URL-quoted,
    so any name is one file name), written atomically."""

    def __init__(self, path):
        self.path = Path(path)

    def load(self, role):
        try:
            return (self.path / (quote(role, "") + ".json")).read_bytes()
        except FileNotFoundError:
            return None

    def save(self, role, data):
        atomic_write(self.path / (quote(role, "") + ".json"), data)


def http_get(url, max_length, sink=None):
    """GET `url`: None on 404/403, else its bytes (or, with `sink`, feed it chunks). Never reads
    more than max_length + 1 bytes: one byte past the limit proves the body too long."""
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT)  # noqa: S310 - http(s) only, see _base_url
    except urllib.error.HTTPError as e:
        if e.code in (403, 404):
            return None
        raise DownloadError("%s: HTTP %d" % (url, e.code)) from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError("%s: %s" % (url, getattr(e, "reason", e))) from None
    with response:
        parts = []
        total = 0
        while total <= max_length:
            chunk = response.read(min(CHUNK, max_length + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if sink is not None:
                sink(chunk)
            else:
                parts.append(chunk)
    if total > max_length:
        raise tuf.TooLarge("%s: more than %d bytes" % (url, max_length))
    return b"".join(parts)


def init(args):
    if len(args.rest) != 1:
        raise MpbootError("usage: --metadata-dir D init TRUSTED_ROOT")
    data = read_input(args.rest[0], "trusted root")
    # Like python-tuf's client, only copy: the root is checked against itself on first use.
    atomic_write(Path(args.metadata_dir) / "root.json", data)


def refresh(args):
    """Run the device workflow; return (trusted set, fetch, store) for the searches."""
    base = _base_url(args.metadata_url, "--metadata-url")
    store = MetadataDir(args.metadata_dir)
    root = store.load("root")
    if root is None:
        raise MpbootError("no root.json in %s: run `init TRUSTED_ROOT` first" % args.metadata_dir)
    trusted = tuf.TrustedSet(root, int(time.time()))
    fetch = lambda path, n: http_get(base + path, n)  # noqa: E731
    tufclient.refresh(trusted, fetch, store)
    return trusted, fetch, store


def download(args):
    if not args.target_name or args.target_dir is None:
        raise MpbootError("download needs --target-name and --target-dir")
    target_base = _base_url(args.target_base_url, "--target-base-url")
    trusted, fetch, store = refresh(args)
    for name in args.target_name:
        info = tufclient.target_info(trusted, name, fetch, store)
        if info is None:
            raise MpbootError("target %r is not in the trusted targets metadata" % name)
        destination = Path(args.target_dir) / quote(name, "")
        if _matches(destination, info):
            continue
        check = tuf.target_check(info)
        parts = []

        def sink(chunk, check=check, parts=parts):
            check.update(chunk)  # refuses the first byte past the listed length
            parts.append(chunk)

        path = tuf.target_path(name, info, trusted.root.consistent_snapshot)
        if http_get(target_base + quote(path, "/~"), info["length"], sink) is None:
            raise DownloadError("%s: not found" % name)
        check.verify()
        atomic_write(destination, b"".join(parts))


def _matches(path, info):
    """True if a stored copy already has the listed length and hashes."""
    try:
        with open(path, "rb") as f:
            check = tuf.target_check(info)
            for chunk in iter(lambda: f.read(CHUNK), b""):
                check.update(chunk)
            check.verify()
        return True
    except (OSError, tuf.LengthOrHashMismatch):
        return False


def _base_url(url, option):
    if url is None:
        raise MpbootError("%s is required for this command" % option)
    if not url.startswith(("http://", "https://")):
        raise MpbootError("%s %s: give an http:// or https:// URL" % (option, url))
    return url if url.endswith("/") else url + "/"


COMMANDS = {"init": init, "refresh": refresh, "download": download}


def parser():
    p = argparse.ArgumentParser(
        prog="mpboot-tuf-client",
        description="mpboot's device TUF client behind the tuf-conformance client interface.",
        epilog="example: mpboot-tuf-client --metadata-dir /tmp/md --metadata-url "
        "http://127.0.0.1:8000/metadata refresh",
    )
    p.add_argument("--metadata-dir", required=True, help="where trusted metadata is kept")
    p.add_argument("--metadata-url", help="base URL of the repository's metadata")
    p.add_argument("--target-name", action="append", help="target path to download (repeatable)")
    p.add_argument("--target-dir", help="where downloaded targets are stored")
    p.add_argument("--target-base-url", help="base URL of the repository's targets")
    p.add_argument("command", choices=sorted(COMMANDS))
    p.add_argument("rest", nargs="*", help="init: the trusted root file")
    return p


def main(argv=None):
    args = parser().parse_intermixed_args(argv)
    try:
        COMMANDS[args.command](args)
    except (MpbootError, TrustError, tufclient.NotFound, DownloadError, OSError) as e:
        print("mpboot-tuf-client: %s: %s: %s" % (args.command, type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
