"""MicroPython's ROMFS image format (vfs.VfsRom, MicroPython 1.25+), built as a stream: the host
makes the package's image with it at provisioning, the device rewrites its romfs partition with
it. The bytes equal mpremote's builder's (mpremote/romfs.py, VfsRomWriter) for the same tree.

    image = romfs.Image([("mpboot_fw/__init__.mpy", 12), ("mpboot_fw/stage.mpy", 3456)])
    image.size                                    # exact length, before reading any file
    image.write(sink, open_file, bytearray(4096))  # sink(memoryview) gets the bytes in order
    romfs.write_partition(part, image, open_file, bytearray(4096))

The format (extmod/vfs_rom.c; docs/romfs.md has a hex example): a record is varuint(kind)
varuint(length) payload, a varuint being 7 bits a byte, most significant first, the high bit
set on all but the last. The image is the header d2 cd 31, varuint(length of the top-level
records), then those records; mpremote puts one 0x80 (a leading zero digit) before the length
when the total would be odd. A directory (kind 4) holds varuint(len name) name and its records;
a file (kind 5) varuint(len name) name and one DATA_VERBATIM record (kind 2) with its bytes.
Each directory's entries are sorted by name, files and directories together, as mpremote's
copy_recursively does.

Errors are RomfsError, whose `reason` is a short stable code: bad-path, bad-size,
duplicate-path, path-conflict (a file that is also a directory), file-size (a file's read gave
fewer or more bytes than declared), too-large (the image is larger than the partition), changed
(write_partition read block 0's files differently the second time).
OSError from open_file, the files or the partition passes through.
"""

import hashlib

try:
    from micropython import const
except ImportError:
    const = lambda x: x  # noqa: E731

HEADER = b"\xd2\xcd\x31"
KIND_DATA_VERBATIM = const(2)
KIND_DIRECTORY = const(4)
KIND_FILE = const(5)
MAX_NAME = const(255)  # bytes of one name (VfsRom has no limit; FAT and LittleFS stop here)
_HEAD_UNIT = const(16)  # ESP-IDF's write unit on an encrypted partition: the unit holding the header
_ERASE = const(6)


class RomfsError(Exception):
    """Entries or files that cannot make the image; `reason` is the failed check's code."""

    def __init__(self, reason, detail=None):
        super().__init__(reason if detail is None else reason + ": " + detail)
        self.reason = reason


def _uint_len(value):
    n = 1
    while value > 0x7F:
        value >>= 7
        n += 1
    return n


def _record_len(payload):
    """Bytes of a record of any kind below 128 whose payload has `payload` bytes."""
    return 1 + _uint_len(payload) + payload


def _check_name(path, name):
    if not name or name == "." or name == ".." or len(name) > MAX_NAME:
        raise RomfsError("bad-path", repr(path))
    for c in name:
        if not " " <= c <= "~":  # printable ASCII: MicroPython's str.encode would not refuse the rest
            raise RomfsError("bad-path", repr(path))


class Image:
    """The layout of a ROMFS image of `entries` [(path, size)], paths relative and '/'-separated
    ("a/b/c.mpy"), directories implied by them. No file is read until write()."""

    def __init__(self, entries):
        root = {}
        for entry in entries:
            path, size = entry
            if not isinstance(path, str) or not path:
                raise RomfsError("bad-path", repr(path))
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise RomfsError("bad-size", "%s: %r" % (path, size))
            parts = path.split("/")
            for name in parts:
                _check_name(path, name)
            node = root
            for name in parts[:-1]:
                sub = node.get(name)
                if sub is None:
                    sub = node[name] = {}
                elif not isinstance(sub, dict):
                    raise RomfsError("path-conflict", path)
                node = sub
            name = parts[-1]
            if name in node:
                raise RomfsError("duplicate-path" if isinstance(node[name], tuple) else "path-conflict", path)
            node[name] = (path, size)
        # Pre-order: (name bytes, payload length, path or None for a directory, size). A
        # directory's length covers its records, which follow it, so write() needs no stack.
        self._records = []
        body = self._flatten(root)
        padded = (len(HEADER) + _uint_len(body) + body) % 2
        self._head = len(HEADER) + padded + _uint_len(body)
        self._padded = padded
        self._body = body
        self.size = self._head + body

    def _flatten(self, node):
        """Append node's records (sorted by name) and return their length in bytes."""
        total = 0
        for name in sorted(node):
            sub = node[name]
            at = len(self._records)
            label = name.encode()
            if isinstance(sub, dict):
                self._records.append(None)
                payload = _uint_len(len(label)) + len(label) + self._flatten(sub)
                self._records[at] = (label, payload, None, 0)
            else:
                payload = _uint_len(len(label)) + len(label) + _record_len(sub[1])
                self._records.append((label, payload, sub[0], sub[1]))
            total += _record_len(payload)
        return total

    def write(self, sink, open_file, buf):
        """Stream the image to sink(memoryview): views of `buf` from its start, each len(buf)
        bytes but the last (shorter, never empty). Each file is read through
        open_file(path).readinto into `buf`, then closed; RomfsError("file-size") when it gives
        fewer or more bytes than its entry says."""
        out = _Out(sink, buf)
        out.put(HEADER)
        if self._padded:
            out.byte(0x80)  # a leading zero digit of the length
        out.uint(self._body)
        for label, payload, path, size in self._records:
            out.uint(KIND_FILE if path is not None else KIND_DIRECTORY)
            out.uint(payload)
            out.uint(len(label))
            out.put(label)
            if path is not None:
                out.uint(KIND_DATA_VERBATIM)
                out.uint(size)
                f = open_file(path)
                try:
                    out.copy(f, size, path)
                finally:
                    f.close()
        out.flush()


class _Out:
    """Fills `buf` and hands it to the sink each time it is full."""

    def __init__(self, sink, buf):
        self.sink = sink
        self.buf = buf
        self.mv = memoryview(buf)
        self.pos = 0

    def flush(self):
        if self.pos:
            self.sink(self.mv if self.pos == len(self.buf) else self.mv[:self.pos])
            self.pos = 0

    def byte(self, b):
        if self.pos == len(self.buf):
            self.flush()
        self.buf[self.pos] = b
        self.pos += 1

    def uint(self, value):
        shift = 7 * (_uint_len(value) - 1)
        while shift:
            self.byte(0x80 | (value >> shift) & 0x7F)
            shift -= 7
        self.byte(value & 0x7F)

    def put(self, data):
        for b in data:
            self.byte(b)

    def copy(self, f, size, path):
        left = size
        while left:
            if self.pos == len(self.buf):
                self.flush()
            n = min(left, len(self.buf) - self.pos)
            got = f.readinto(self.mv[self.pos:self.pos + n])
            if not got:
                raise RomfsError("file-size", "%s: %d of %d bytes" % (path, size - left, size))
            self.pos += got
            left -= got
        if self.pos == len(self.buf):
            self.flush()
        # One byte more must not come: read it into the free room, which the next bytes overwrite.
        if f.readinto(self.mv[self.pos:self.pos + 1]):
            raise RomfsError("file-size", "%s: more than %d bytes" % (path, size))


class _First(Exception):
    """Stops the second pass once it has block 0 (write_partition)."""


def write_partition(part, image, open_file, buf):
    """Write `image` into `part` (esp32.Partition-like: ioctl 4/5/6, writeblocks) through `buf`,
    one block long, so that a power cut at any flash operation leaves either no ROMFS header in
    block 0 or the whole image (docs/romfs.md, "Writing a partition"):
    1. block 0 is erased: from here no header, so no old image either;
    2. blocks 1.. in order, each erased and written (the last padded with 0xff);
    3. block 0 without its header bytes, then the 16 bytes holding the header.
    RomfsError("too-large") before any write when it does not fit; any error after step 1
    (RomfsError("file-size"), OSError) leaves block 0 erased: no ROMFS there until a new write.
    The partition must not be mounted while it is written (VfsRom reads it in place)."""
    block = part.ioctl(5, 0)
    if len(buf) != block:
        raise ValueError("buf must be one block (%d bytes)" % block)
    count = part.ioctl(4, 0)
    if image.size > count * block:
        raise RomfsError("too-large", "%d bytes, partition is %d" % (image.size, count * block))
    # Block 0 is made twice rather than kept in a second buffer: the board has one block to spare
    # for this, not two, and making it again costs reading its first few files' first 4 KiB. Its
    # digest from the first pass must match the second's, or the files changed between them and
    # block 0 stays erased ("changed").
    digest = [None]
    n = [0]

    def to_flash(chunk):
        i = n[0]
        n[0] = i + 1
        if i == 0:
            digest[0] = hashlib.sha256(chunk).digest()
            return
        _pad(buf, len(chunk))
        part.ioctl(_ERASE, i)
        part.writeblocks(i, buf, 0)

    def first(chunk):
        if hashlib.sha256(chunk).digest() != digest[0]:
            raise RomfsError("changed", "block 0's files read differently the second time")
        raise _First()

    part.ioctl(_ERASE, 0)
    image.write(to_flash, open_file, buf)
    try:
        image.write(first, open_file, buf)
    except _First:
        pass
    _pad(buf, min(image.size, block))
    mv = memoryview(buf)
    if _encrypted(part):
        # An encrypted 16-byte unit is written once (its ciphertext cannot be programmed again):
        # the rest of the block, then the unit, whose torn write reads back as noise.
        part.writeblocks(0, mv[_HEAD_UNIT:], _HEAD_UNIT)
    else:
        # Everything but the magic, then the header unit again with it: programming equal bytes
        # changes nothing, so a cut in that last write leaves the magic incomplete (no header)
        # or complete with every other byte of block 0 already in place.
        magic = bytes(mv[:len(HEADER)])
        for j in range(len(HEADER)):
            buf[j] = 0xFF
        part.writeblocks(0, buf, 0)
        buf[:len(HEADER)] = magic
    part.writeblocks(0, mv[:_HEAD_UNIT], 0)


def _pad(buf, n):
    for j in range(n, len(buf)):
        buf[j] = 0xFF


def _encrypted(part):
    # esp32.Partition.info()[5]; a flash double without info() is plain flash.
    info = getattr(part, "info", None)
    return bool(info()[5]) if info is not None else False
