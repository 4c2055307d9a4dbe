"""The stream an over-the-air bundle install reads: bundlestore.install(Stream(...)) takes it as
it takes a .mpbundle file, and bundle.verify_stream checks every byte of it as usual.

    header    16 bytes built from the manifest's length (bundle.HEADER_FORMAT)
    manifest  the bytes of the bundle's TUF target, which the updater checked against the
              target's entry (length and hashes, tuf.target_check) before building this
    files     each file of the manifest, in its order, from one of two places:
              - the active copy, when a file there has the same SHA-256 and size in that
                copy's kept manifest: read from flash, not the network (verify_stream hashes it
                again as it streams: nothing is trusted because it is already on the device);
              - else `<url>files/sha256/<hex>`, the repository's content-addressed copy
                (fetch.Fetcher.open: a body of exactly the file's size, "too-long" past it,
                "too-short" or resumed before it; the hash is verify_stream's).

Nothing here decides what is good: the manifest's signatures, fields, the device checks and
every file's size and hash are verify_stream's, then verify_files' on the copy in place. The
kept manifest of the active copy is only read for where a file's bytes may already be (its
signature is not checked again: a wrong hint costs a refused install, file-hash, never a wrong
file). `Stream` counts what came from where, for the log and for `make bench`.
"""

import json
import os
import struct
from binascii import hexlify

from mpboot_fw import bundle, cjson
from mpboot_fw.bundle import BundleError

FILES = "files/sha256/"  # under the repository's URL: files/sha256/<64 hex>


def unverified(data):
    """The bundle.Bundle of manifest bytes `data` with every field, path and cap checked
    (check_manifest) but not the signatures: for the plan of a stream whose consumer verifies
    them before it takes any file's byte, and for what a kept manifest says is installed."""
    try:
        cjson.check_syntax(data, bundle.MAX_DEPTH)
        doc = json.loads(data)
    except ValueError as e:
        raise BundleError("bad-manifest", str(e))
    signed = doc.get("signed") if isinstance(doc, dict) else None
    if not isinstance(signed, dict) or signed.get("_type") != bundle.TYPE:
        raise BundleError("bad-manifest", "not a bundle manifest")
    return bundle.check_manifest(signed, True)


def kept(path, documents=None):
    """The unverified Bundle of the manifest kept at `path` (beside a copy: bundlestore's
    copy_dir + MANIFEST); None when it is missing, over the cap or unreadable (nothing is then
    known to be installed there). documents: the buffer to read it into (bundle.manifest_buffer,
    or any docbuf.DocumentBuffer of at least MAX_MANIFEST bytes: the refresh's tuf.DocumentBuffer
    is one); None: a new block. The Bundle holds nothing of the bytes."""
    try:
        return unverified(bundle.read_manifest_file(path, documents))
    except (OSError, BundleError):
        return None


def plan(new, active):
    """[(size, sha256 digest, path in the active copy or None)] for Bundle `new`'s files in
    stream order: the path of a file of Bundle `active` (or None: no copy runs) with the same
    digest and size, else None (to download)."""
    out = []
    for _, size, digest in new.files:
        local = None
        if active is not None:
            for path, old_size, old_digest in active.files:
                if old_digest == digest and old_size == size:
                    local = path
                    break
        out.append((size, digest, local))
    return out


class Stream:
    """readinto() over header, manifest and files (module docstring). fetcher: a fetch.Fetcher
    (its reader: one connection per downloaded file); url: the repository's base URL;
    manifest: the checked manifest bytes; files: plan(); directory: the active copy's
    directory (for the files the plan reads from it). Counts: downloaded/copied files and
    bytes, requests. `where` names the file being read, for the log; close() drops any
    connection left open (a refused install stops reading mid-file)."""

    def __init__(self, fetcher, url, manifest, files, directory=None):
        self._fetcher = fetcher
        self._url = url
        self._head = struct.pack(bundle.HEADER_FORMAT, bundle.MAGIC, bundle.FORMAT_VERSION, 0, len(manifest), 0)
        self._manifest = manifest
        self._files = files
        self._dir = directory
        self._i = -2  # -2: the header, -1: the manifest, then the index of the file
        self._pos = 0
        self._src = None  # the open local file, or the fetcher while a file downloads
        self.where = None
        self.downloaded = self.downloaded_bytes = self.copied = self.copied_bytes = self.requests = 0

    def readinto(self, mv):
        while True:
            i = self._i
            if i < 0:
                data = self._head if i == -2 else self._manifest
                n = min(len(mv), len(data) - self._pos)
                if n:
                    mv[:n] = memoryview(data)[self._pos:self._pos + n]
                    self._pos += n
                    return n
            elif i < len(self._files):
                left = self._files[i][0] - self._pos
                if left:
                    if self._src is None:
                        self._open(i)
                    n = self._src.readinto(mv if left >= len(mv) else mv[:left])
                    self._pos += n
                    return n  # 0: a local file shorter than listed; verify_stream says truncated
                self._end(i)
            else:
                return 0
            self._i += 1
            self._pos = 0

    def close(self):
        src = self._src
        self._src = None
        if src is not None:
            src.close()

    def _open(self, i):
        size, digest, local = self._files[i]
        if local is not None and self._dir is not None:
            full = self._dir + "/" + local
            try:
                if os.stat(full)[6] == size:
                    self.where = full
                    self._src = open(full, "rb")
                    return
            except OSError:
                pass  # gone from the active copy: fetch it instead
            self._files[i] = (size, digest, None)
        self.where = FILES + hexlify(digest).decode()
        self.requests += 1
        self._fetcher.open(self._url + self.where, size)
        self._src = self._fetcher

    def _end(self, i):
        src = self._src
        if src is None:
            return  # an empty file: nothing read
        self._src = None
        size, _, local = self._files[i]
        if local is None:
            src.close(True)  # the body must end at the size: more is "too-long"
            self.downloaded += 1
            self.downloaded_bytes += size
        else:
            src.close()
            self.copied += 1
            self.copied_bytes += size
