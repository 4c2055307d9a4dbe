"""One buffer that signed documents are read into, made early and reused: the TUF refresh's
metadata (tuf.DocumentBuffer, TARGETS_MAX bytes) and a bundle's manifest (bundle.manifest_buffer,
MAX_MANIFEST bytes). Its own module so the boot stage's bundle code shares it without importing
tuf (and its SHA-512), and a device without bundles imports nothing more at boot.

A document's bytes need one contiguous block, and the collector never moves objects: after
earlier work has left its survivors spread over the heap, 8 or 12 KiB could find the bytes free
but in no single hole (on the unix port a refresh at the caps failed so at some free sizes and
passed at smaller ones). Made first, the block is there; no document then needs another.

read(fill, max_length) makes the buffer max_length bytes long, calls fill(buffer), which writes
the document at its start and returns its length n, and returns the buffer cut to exactly n
bytes. The bytes are valid until the next read: a caller that keeps a document copies it
(tufstore does). On MicroPython the buffer never moves: a bytearray keeps its storage when it
shrinks and grows back into it (objarray.c's spare `free` room), and it grows from its own
bytes, so no other block is made. CPython refuses to resize a bytearray that a memoryview still
exports (a traceback can hold one), and has the memory: there each read gets a fresh buffer.
"""

import sys


class DocumentBuffer:
    def __init__(self, size):
        self.size = size
        self._buf = bytearray(size)

    def read(self, fill, max_length):
        if not 0 <= max_length <= self.size:
            raise ValueError("document buffer: %d bytes" % max_length)
        if not _IN_PLACE:
            self._buf = bytearray(max_length)
        buf = self._buf
        _resize(buf, max_length)
        n = fill(buf)
        _resize(buf, n)
        return buf


_IN_PLACE = sys.implementation.name == "micropython"


def _resize(buf, n):
    """len(buf) = n, in place: cut, or grown within the storage it was made with (see the module
    docstring; the contents past the old length are whatever was there)."""
    buf[n:] = b""
    while len(buf) < n:
        if buf:
            buf.extend(memoryview(buf)[:n - len(buf)])  # at most doubles: from its own bytes
        else:
            buf.append(0)
