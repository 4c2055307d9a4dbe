"""The boot stage's persistent state: a power-safe record log on its own data partition.

It holds the security version floor, a security version floor per bundle name, the trusted root metadata and its version, other trusted
metadata blobs by name (the exact bytes received), the trusted time floor, the pending install,
a boot counter and the last EVENT_RING events. `load(dev)` reads it from a partition with
esp32.Partition's block interface; every mutation is one atomic step on flash.

How it stays consistent (docs/state-log.md has the byte layout and the full argument):
- Records (staterec) are appended to 4 KiB sectors; a record's head, programmed after its
  payload, is its commit, and its CRC and sequence number make a torn or stray record invisible.
- A mutation appends records with consecutive sequence numbers. A blob is its chunk records
  followed by a commit record; an unfinished blob changes nothing.
- When space runs short, or the log ends in something uncommitted, the current state is copied
  as a snapshot (T_BEGIN ... T_END) into erased sectors; the old sectors are erased only once a
  newer snapshot has been committed. The reader takes the complete snapshot with the highest
  sequence number that holds a root, and the records that follow it without a gap; the writer
  numbers a new snapshot above everything on flash, so no record it did not write, wherever it
  lies, can hide what it writes next.
- The floor, the bundle floors, the time floor and the boot counter only go up: each is the
  largest value of any committed record present (for a bundle floor: of any record for that
  name), so no record, crafted or old, can lower them, and a snapshot carries the maximum
  forward.
- `load` only reads; a log that needs repair is compacted by the next mutation.
"""

import struct
from binascii import crc32

from mpboot_fw import staterec as R

try:
    from micropython import const
except ImportError:
    const = lambda x: x  # noqa: E731

EVENT_RING = const(32)  # events kept across compactions
MAX_ROOT = const(8192)  # bytes of root metadata
MAX_BLOBS = const(8192)  # bytes of all other metadata blobs together
MAX_BLOB_COUNT = const(8)  # other blobs
MAX_BUNDLES = const(16)  # bundle names with a floor
ROOT = "root"
_MIN_CHUNK = const(256)  # a blob starts a fresh sector rather than leave a smaller piece
_U32 = 0xFFFFFFFF
_G_FLOOR = const(0)
_G_TIME = const(1)
_G_BOOT = const(2)
_G_BUNDLES = const(3)  # {bundle name: floor}, names with a floor above 0 only
_ERASE = const(6)


class StateError(Exception):
    """The state partition is missing, unreadable or full."""


def load(dev):
    """The committed state on partition `dev` (raises StateError if it holds none)."""
    state = State(dev)
    state._scan()
    return state


def format_partition(dev, root_bytes, root_version=None, floor=0, time_floor=0):
    """Erase `dev` and write a fresh state holding the trust anchor; returns the loaded State.

    Without `root_version`, the root is verified (self-signed by a threshold of its root keys)
    and its own version is used.
    """
    if root_version is None:
        from mpboot_fw.trust import load_root

        root_version = load_root(root_bytes).version
    root = memoryview(root_bytes)
    _check_root(root, root_version)
    state = State(dev)
    view = _View(-1)
    view.blobs[ROOT] = (root_version, len(root), root)
    state._g = [_check_int(floor, _U32), _check_int(time_floor, (1 << 63) - 1), 0, {}]
    state._seq = 0
    state._sec = state._n - 1
    state._off = state._bs
    state._used = [False] * state._n
    if 2 * state._snap_sectors(view) > state._n:
        raise StateError("partition too small")
    for s in range(state._n):
        dev.ioctl(_ERASE, s)
    state._emit_snapshot(view)
    state._scan()
    return state


class _View:
    """One state as the log describes it: where its pieces are on flash.

    pending and events are (address, length) of a record payload; blobs map a name to
    (version, length, chunks) with chunks a tuple of (address, length). bundles holds the
    bundle floors its own records name: the state's floors are the maxima over the whole
    partition (State._g), but a dry run of a mutation that adds a name must size the snapshot
    after it, which the view it runs on is.
    """

    def __init__(self, gen):
        self.gen = gen
        self.pending = None
        self.blobs = {}
        self.events = []
        self.bundles = {}
        self.chunks = []  # chunk records of a blob whose commit has not been seen yet

    def copy(self):
        other = _View(self.gen)
        other.pending = self.pending
        other.blobs = dict(self.blobs)
        other.events = list(self.events)
        other.bundles = dict(self.bundles)
        return other


def _apply(view, typ, mv, pos, n, addr):
    """Update `view` with one committed record: payload mv[pos:pos + n], at flash `addr`."""
    if typ == R.T_CHUNK:
        view.chunks.append((addr, n))
        return
    if typ == R.T_BLOB:
        name, version, length, count, present = R.get_blob(mv, pos)
        # Its chunks are the `count` records right before it; earlier ones are left over from
        # a blob whose commit was cut off.
        chunks = tuple(view.chunks[len(view.chunks) - count:]) if count <= len(view.chunks) else ()
        if name == ROOT:
            # As set_root: never removed, never an older version, never over its cap.
            if present and version >= (view.blobs.get(ROOT) or (0,))[0] and length <= MAX_ROOT:
                _put_blob(view, name, version, length, chunks, count)
        elif not present:
            view.blobs.pop(name, None)
        else:
            others = [k for k in view.blobs if k not in (ROOT, name)]
            if len(others) < MAX_BLOB_COUNT and sum(view.blobs[k][1] for k in others) + length <= MAX_BLOBS:
                _put_blob(view, name, version, length, chunks, count)
    elif typ == R.T_PENDING:
        view.pending = (addr, n) if n else None
    elif typ == R.T_EVENT:
        view.events.append((addr, n))
        if len(view.events) > EVENT_RING:
            view.events.pop(0)
    elif typ == R.T_BFLOOR:
        _note_bundle(view.bundles, mv, pos)
    if view.chunks:
        view.chunks = []


def _put_blob(view, name, version, length, chunks, count):
    if len(chunks) == count and sum(c[1] for c in chunks) == length:
        view.blobs[name] = (version, length, chunks)


class State:
    """The state on one partition. Read with the properties and getters; each mutator commits
    one atomic change (raising StateError when the partition is full, ValueError for bad input).
    After an exception from a mutator, what flash holds is what `load` reads back."""

    def __init__(self, dev):
        self._dev = dev
        self._n = dev.ioctl(4, 0)
        self._bs = dev.ioctl(5, 0)
        if self._n < 2 or self._bs % 16 or not 512 <= self._bs <= 0x10000:
            raise StateError("bad state partition")
        self._buf = bytearray(self._bs)
        self._mv = memoryview(self._buf)
        self._head = bytearray(R.HEAD)
        self._dry = False
        self._opened = 0
        self._reach = 0  # the sequence number a dry run ended at

    # -- reading ------------------------------------------------------------------------------
    @property
    def floor(self):
        """Security version floor: no image below it may run."""
        return self._g[_G_FLOOR]

    def bundle_floor(self, name):
        """Security version floor of bundle `name`: no copy of it below it may run (0: none)."""
        return self._g[_G_BUNDLES].get(name, 0)

    def bundle_floors(self):
        """Every bundle floor recorded, as (name, floor) sorted by name."""
        return sorted(self._g[_G_BUNDLES].items())

    @property
    def time_floor(self):
        """Latest trusted time seen (unix seconds): the clock may never be earlier."""
        return self._g[_G_TIME]

    @property
    def boot_count(self):
        return self._g[_G_BOOT]

    @property
    def generation(self):
        """How many snapshots were written since the partition was formatted."""
        return self._v.gen

    @property
    def pending(self):
        """The pending install: dict(slot, version, secver, sha256, boot), or None."""
        if self._v.pending is None:
            return None
        addr, n = self._v.pending
        buf = bytearray(n)
        self._read(addr, buf)
        return R.get_pending(buf, n)

    def root(self):
        """The trusted root metadata, exact bytes."""
        return self.blob(ROOT)

    @property
    def root_version(self):
        return self.blob_version(ROOT)

    def blob(self, name, start=0, length=None):
        """The bytes stored under `name`, or None; with `start` and `length`, only
        blob[start:start + length], read alone (tufstore's documents: a part costs the heap
        its own size twice, not the whole blob's)."""
        entry = self._v.blobs.get(name)
        if entry is None:
            return None
        start = min(start, entry[1])
        n = entry[1] - start if length is None else min(length, entry[1] - start)
        data = bytearray(n)
        self._read_range(entry[2], start, memoryview(data))
        return bytes(data)

    def blob_length(self, name):
        """How many bytes are stored under `name`, or None."""
        entry = self._v.blobs.get(name)
        return None if entry is None else entry[1]

    def blob_version(self, name):
        entry = self._v.blobs.get(name)
        return None if entry is None else entry[0]

    def blob_names(self):
        return sorted(self._v.blobs)

    def events(self):
        """The kept events, oldest first, as (boot, code, reason, detail or None)."""
        buf = bytearray(256)
        for addr, n in tuple(self._v.events):
            mv = memoryview(buf)[:n]
            self._read(addr, mv)
            yield R.get_event(mv)

    def wear(self):
        """Where the log stands: sectors live and free, bytes used, snapshot size."""
        live = sum(1 for u in self._used if u)
        return {
            "sectors": self._n,
            "live_sectors": live,
            "free_sectors": self._n - live,
            "snapshot_sectors": self._snap_sectors(self._v),
            "tail_bytes_used": self._off,
            "generation": self._v.gen,
            "sequence": self._seq,
            "needs_compaction": self._dirty,
        }

    # -- mutations ----------------------------------------------------------------------------
    def raise_floor(self, version):
        """Raise the security version floor to `version` (lower values change nothing)."""
        if _check_int(version, _U32) > self._g[_G_FLOOR]:
            self._mutate(self._emit_int, R.T_FLOOR, "<I", version)
        return self._g[_G_FLOOR]

    def raise_bundle_floor(self, name, version):
        """Raise bundle `name`'s floor to `version` (lower values change nothing); a name
        beyond MAX_BUNDLES raises StateError before anything is written."""
        raw = name.encode() if isinstance(name, str) else b""
        if not R.is_name(raw, 0, len(raw)):
            raise ValueError("bundle name must be 1-32 of a-z 0-9 _ -, starting with a letter")
        floors = self._g[_G_BUNDLES]
        if _check_int(version, _U32) > floors.get(name, 0):
            if name not in floors and len(floors) >= MAX_BUNDLES:
                raise StateError("bundle floors full: %d names" % MAX_BUNDLES)
            self._mutate(self._emit_bfloor, name, version)
        return floors.get(name, 0)

    def raise_time(self, seconds):
        """Raise the trusted time floor (earlier times change nothing)."""
        if _check_int(seconds, (1 << 63) - 1) > self._g[_G_TIME]:
            self._mutate(self._emit_int, R.T_TIME, "<Q", seconds)
        return self._g[_G_TIME]

    def next_boot(self):
        """Count one more boot; returns the new boot counter."""
        if self._g[_G_BOOT] >= _U32:
            raise StateError("boot counter full")
        self._mutate(self._emit_int, R.T_BOOT, "<I", self._g[_G_BOOT] + 1)
        return self._g[_G_BOOT]

    def set_root(self, data, version):
        """Replace the trusted root metadata; its version may not go down."""
        data = memoryview(data)
        _check_root(data, version)
        if version < (self.root_version or 0):
            raise ValueError("root version would go down")
        self._mutate(self._emit_blob, 0, ROOT, version, len(data), data)

    def set_blob(self, name, data, version=0):
        """Store trusted metadata `data` (exact bytes) under `name`, with its version."""
        data = memoryview(data)
        if not isinstance(name, str) or not 0 < len(name.encode()) <= 16 or name == ROOT:
            raise ValueError("blob name must be 1-16 bytes, not root")
        _check_int(version, _U32)
        others = [k for k in self._v.blobs if k not in (ROOT, name)]
        used = sum(self._v.blobs[k][1] for k in others)
        if len(others) >= MAX_BLOB_COUNT or used + len(data) > MAX_BLOBS:
            raise ValueError("metadata blobs over budget")
        self._mutate(self._emit_blob, 0, name, version, len(data), data)

    def delete_blob(self, name):
        if name != ROOT and name in self._v.blobs:
            self._mutate(self._emit_blob, 0, name, 0, 0, None)

    def set_pending(self, slot, version, secver, sha256, boot=None):
        """Record the install waiting for its trial boot (boot: the counter at install)."""
        if len(sha256) != R.SHA256_LEN:
            raise ValueError("sha256 must be 32 bytes")
        _check_int(secver, _U32)
        boot = self._g[_G_BOOT] if boot is None else _check_int(boot, _U32)
        self._mutate(self._emit_pending, (slot, version, secver, sha256, boot))

    def clear_pending(self):
        if self._v.pending is not None:
            self._mutate(self._emit_pending, None)

    def log_event(self, code, reason="", detail=None):
        """Append an event (code, reason and detail are cut to 24, 96 and 64 bytes)."""
        self._mutate(self._emit_event, code, reason, detail)

    # -- scanning -----------------------------------------------------------------------------
    def _scan(self):
        """Rebuild everything from flash (docs/state-log.md, "Reading").

        A sector's *run* is its committed records from offset 0 with consecutive sequence
        numbers. The floor, time floor and boot counter are the largest in any run. The state
        is the snapshot with the highest T_BEGIN (the first record of a sector) that is complete
        and holds a root, with the records that continue it: neither the order of sectors on
        flash nor what the other sectors hold can hide it."""
        n, mv = self._n, self._mv
        first = [-1] * n
        last = [-1] * n
        tops = [[0, 0, 0, {}] for _ in range(n)]  # each sector's monotonic values
        names = {}  # every bundle name on flash, to refuse more than the writer ever writes
        ends = [0] * n  # where each sector's run ends, and the CRC-32 of it: _adopt reads it again
        sums = [0] * n
        begins = []
        foreign = False
        for s in range(n):
            self._dev.readblocks(s, self._buf)
            off = 0
            while True:
                size = R.parse(mv, off, self._bs)
                seq = R.seq_at(mv, off) if size >= 0 else -1
                if size < 0 or 0 <= last[s] != seq - 1:
                    break
                if first[s] < 0:
                    first[s] = seq
                    if mv[off + 2] == R.T_BEGIN and mv[off + 3] & R.F_SNAP:
                        if mv[off + R.HEAD] == R.FORMAT:
                            begins.append(s)
                        else:
                            foreign = True
                last[s] = seq
                _note(tops[s], mv[off + 2], mv, off + R.HEAD)
                off += R.size(size)
            ends[s] = off
            sums[s] = crc32(mv[:off])
            # Names are never removed and the writer refuses a 17th: more can only be crafted.
            # Fail closed (no snapshot could carry them all, and dropping one could lower it).
            for name in tops[s][_G_BUNDLES]:
                names[name] = True
            if len(names) > MAX_BUNDLES:
                raise _too_many()
        self._seq = max(last)
        self._g = _most(tops, [True] * n)
        # Highest first; of two sectors that start with the same T_BEGIN, the longer run.
        begins.sort(key=lambda s: (first[s], last[s]), reverse=True)
        for s in begins:
            if self._adopt(s, first, last, tops, ends, sums):
                return
        if begins:
            raise StateError("no complete snapshot that holds a root: format the partition")
        raise StateError("state format not supported" if foreign else "no state: format the partition")

    def _adopt(self, s, first, last, tops, ends, sums):
        """Take the snapshot that starts sector s, and the records that continue it, as the
        state, unless it is incomplete or holds no root (then False, and nothing changed)."""
        n, bs, mv = self._n, self._bs, self._mv
        begin = first[s]
        snap = state = None
        cur = tail = tail_end = 0
        chain = [False] * n
        while s >= 0:
            self._dev.readblocks(s, self._buf)
            if crc32(mv[:ends[s]]) != sums[s]:
                raise StateError("state partition reads back differently")
            off = 0
            prev = -1
            # The run _scan found, checked there: walk it by the lengths in its heads.
            while off < ends[s]:
                size = mv[off + 4] | mv[off + 5] << 8
                prev = R.seq_at(mv, off)
                typ = mv[off + 2]
                snapped = mv[off + 3] & R.F_SNAP
                pos = off + R.HEAD
                off += R.size(size)
                if state is None:
                    if not snapped:
                        return False
                    if typ == R.T_BEGIN:
                        if prev != begin:
                            return False
                        snap = _View(struct.unpack_from("<I", mv, pos + 1)[0])
                    elif typ != R.T_END:
                        _apply(snap, typ, mv, pos, size, s * bs + pos)
                    elif struct.unpack_from("<I", mv, pos)[0] != begin or ROOT not in snap.blobs:
                        return False
                    else:
                        state, cur, tail, tail_end = snap, prev, s, off
                elif snapped:
                    break  # what follows is not part of the state
                else:
                    _apply(state, typ, mv, pos, size, s * bs + pos)
                    cur, tail, tail_end = prev, s, off
                chain[s] = True
            # On into the sector whose run starts right after this one's, if the state took all
            # of this one; of two, the longer (an old copy of a sector is a prefix of it).
            nxt = -1
            if chain[s] and prev == last[s]:
                for t in range(n):
                    if first[t] == prev + 1 and (nxt < 0 or last[t] > last[nxt]):
                        nxt = t
            s = nxt
        if state is None:
            return False
        self._v = state
        self._sec, self._off = tail, tail_end
        self._chain = chain
        self._last = last
        self._ctop = max(last[t] for t in range(n) if chain[t])
        # Appending continues only where nothing but erased flash follows the last record, no
        # sector outside the chain holds a record of the live range or after it (an old copy of
        # a sector, a crafted fork), and the chain itself carries every monotonic value on flash.
        hi = _most(tops, chain)
        clean = self._seq == cur and hi == self._g and all(chain[t] or last[t] < begin for t in range(n))
        if clean and tail_end < bs:
            self._dev.readblocks(tail, self._buf)
            clean = min(mv[tail_end:]) == 0xFF
        self._dirty = not clean
        # A sector outside the chain with a value above the chain's counts as used, so that
        # nothing erases it before a snapshot carries that value.
        self._used = [chain[t] or tops[t][0] > hi[0] or tops[t][1] > hi[1] or tops[t][2] > hi[2]
                      or _above(tops[t][_G_BUNDLES], hi[_G_BUNDLES]) for t in range(n)]
        return True

    def _read(self, addr, out):
        block, off = divmod(addr, self._bs)
        self._dev.readblocks(block, out, off)

    def _read_range(self, chunks, start, out):
        """Fill `out` with a blob's bytes from offset `start`, out of its chunks."""
        end = start + len(out)
        pos = 0
        for addr, n in chunks:
            lo = max(start, pos)
            hi = min(end, pos + n)
            if lo < hi:
                self._read(addr + lo - pos, out[lo - start:hi - start])
            pos += n

    # -- writing ------------------------------------------------------------------------------
    def _mutate(self, emit, *args):
        """Commit what `emit(view, *args)` appends. Compact first when the log needs repair or
        when appending would leave too little room to write the next snapshot; refuse (before
        writing anything) when even a compacted log has no room for it."""
        after = self._v.copy()
        grow = self._dry_run(emit, after, *args)
        need = max(self._snap_sectors(self._v), self._snap_sectors(after))
        compact = self._dirty or self._free() - grow < need or self._reach > _U32
        drop = False
        if compact:
            if self._n - self._dry_run(self._compacted, emit, args) < need:
                raise StateError("state partition full")
            # Sequence numbers are u32 and a log uses up a few hundred million in its flash's
            # life: a number near the top is crafted. If it lies outside the chain, its sectors
            # are dropped and numbering goes on from the chain's own top; else the log is stuck.
            if self._reach > _U32:
                if self._reach - self._seq + self._ctop > _U32:
                    raise StateError("state sequence numbers used up: format the partition")
                drop = True
        try:
            if drop:
                self._drop_above(self._ctop)
            if compact:
                self._compact()
                if self._dirty:  # the new snapshot did not take: appending would program over dirt
                    raise StateError("state partition cannot be repaired")
            emit(self._v, *args)
        except Exception:
            try:
                self._scan()
            except Exception:
                self._dirty = True
            raise

    def _compacted(self, emit, args):
        self._emit_snapshot(self._v)
        emit(self._v.copy(), *args)

    def _compact(self):
        if self._free() < self._snap_sectors(self._v):
            raise StateError("state partition full")
        self._emit_snapshot(self._v)
        self._scan()

    def _drop_above(self, top):
        """Erase the sectors outside the chain that hold a record numbered above `top`."""
        for s in range(self._n):
            if not self._chain[s] and self._last[s] > top:
                self._dev.ioctl(_ERASE, s)
                self._used[s] = False
        self._seq = top

    def _free(self):
        return sum(1 for u in self._used if not u)

    def _snap_sectors(self, view):
        return self._dry_run(self._emit_snapshot, view)

    def _dry_run(self, emit, *args):
        """Sectors `emit(*args)` would open, computed by running it without touching flash."""
        saved = self._sec, self._off, self._seq
        self._dry = True
        self._opened = 0
        try:
            emit(*args)
        finally:
            self._reach = self._seq
            self._dry = False
            self._sec, self._off, self._seq = saved
        return self._opened

    def _open(self):
        """Continue in a fresh sector: the next one after the tail that holds nothing live."""
        self._off = 0
        if self._dry:
            self._opened += 1
            return
        for i in range(1, self._n + 1):
            s = (self._sec + i) % self._n
            if not self._used[s]:
                self._dev.ioctl(_ERASE, s)
                self._used[s] = True
                self._sec = s
                return
        raise StateError("state partition full")

    def _rec(self, view, typ, flags, n):
        """Append one record whose payload is self._buf[:n]: payload first, then the head
        (the commit). `view`, if given, takes the record as the reader would."""
        size = R.size(n)
        if self._off + size > self._bs:
            self._open()
        off = self._off
        self._seq += 1
        if not self._dry:
            for i in range(n, size - R.HEAD):
                self._buf[i] = 0xFF
            if size > R.HEAD:
                self._dev.writeblocks(self._sec, self._mv[:size - R.HEAD], off + R.HEAD)
            R.seal(self._head, typ, flags, n, self._seq, self._mv)
            self._dev.writeblocks(self._sec, self._head, off)
            _note(self._g, typ, self._mv, 0)
        self._off = off + size
        if view is not None:
            _apply(view, typ, self._mv, 0, n, self._sec * self._bs + off + R.HEAD)

    def _emit_int(self, view, typ, fmt, value):
        struct.pack_into(fmt, self._buf, 0, value)
        self._rec(view, typ, 0, struct.calcsize(fmt))

    def _emit_pending(self, view, pending):
        self._rec(view, R.T_PENDING, 0, R.put_pending(self._buf, *pending) if pending else 0)

    def _emit_bfloor(self, view, name, version):
        self._rec(view, R.T_BFLOOR, 0, R.put_bfloor(self._buf, name, version))

    def _emit_event(self, view, code, reason, detail):
        self._rec(view, R.T_EVENT, 0, R.put_event(self._buf, self._g[_G_BOOT], code, reason, detail))

    def _emit_blob(self, view, flags, name, version, length, src):
        """Chunk records then the commit; src: a memoryview of the bytes, a chunk tuple to copy
        from, or None to delete."""
        done = count = 0
        while done < length:
            room = self._bs - self._off - R.HEAD
            if room < min(length - done, _MIN_CHUNK):
                self._open()
                room = self._bs - R.HEAD
            n = min(length - done, room & ~15)
            if not self._dry:
                if isinstance(src, tuple):
                    self._read_range(src, done, self._mv[:n])
                else:
                    self._mv[:n] = src[done:done + n]
            self._rec(view, R.T_CHUNK, flags, n)
            done += n
            count += 1
        self._rec(view, R.T_BLOB, flags, R.put_blob(self._buf, name, version, length, count, 0 if src is None else 1))

    def _copy_rec(self, typ, loc):
        if not self._dry:
            self._read(loc[0], self._mv[:loc[1]])
        self._rec(None, typ, R.F_SNAP, loc[1])

    def _emit_snapshot(self, src):
        """Write the whole state of view `src` as one snapshot, from a fresh sector."""
        self._off = self._bs
        begin = self._seq + 1
        struct.pack_into("<BI", self._buf, 0, R.FORMAT, min(src.gen + 1, _U32))
        self._rec(None, R.T_BEGIN, R.F_SNAP, 5)
        for typ, fmt, value in ((R.T_FLOOR, "<I", self._g[_G_FLOOR]), (R.T_TIME, "<Q", self._g[_G_TIME]),
                                (R.T_BOOT, "<I", self._g[_G_BOOT])):
            struct.pack_into(fmt, self._buf, 0, value)
            self._rec(None, typ, R.F_SNAP, struct.calcsize(fmt))
        # Every name's maximum; src's own floors are among them, except in a dry run of the
        # mutation that adds one (then they size the snapshot after it).
        floors = dict(self._g[_G_BUNDLES])
        _merge(floors, src.bundles)
        for name in sorted(floors):
            self._rec(None, R.T_BFLOOR, R.F_SNAP, R.put_bfloor(self._buf, name, floors[name]))
        if src.pending is not None:
            self._copy_rec(R.T_PENDING, src.pending)
        for name in sorted(src.blobs):  # dict order differs between runtimes; flash should not
            version, length, chunks = src.blobs[name]
            self._emit_blob(None, R.F_SNAP, name, version, length, chunks)
        for loc in src.events:
            self._copy_rec(R.T_EVENT, loc)
        struct.pack_into("<I", self._buf, 0, begin & _U32)  # above _U32 only in a dry run (_mutate)
        self._rec(None, R.T_END, R.F_SNAP, 4)


def _note(g, typ, mv, pos):
    """Keep the monotonic values `g` at the largest committed value seen."""
    if typ == R.T_FLOOR:
        g[_G_FLOOR] = max(g[_G_FLOOR], struct.unpack_from("<I", mv, pos)[0])
    elif typ == R.T_TIME:
        g[_G_TIME] = max(g[_G_TIME], struct.unpack_from("<Q", mv, pos)[0])
    elif typ == R.T_BOOT:
        g[_G_BOOT] = max(g[_G_BOOT], struct.unpack_from("<I", mv, pos)[0])
    elif typ == R.T_BFLOOR:
        _note_bundle(g[_G_BUNDLES], mv, pos)


def _note_bundle(floors, mv, pos):
    """Keep floors[name] at the largest floor seen for the T_BFLOOR payload at mv[pos:]; a
    sector holding more names than the writer ever writes is refused (see _scan)."""
    name, floor = R.get_bfloor(mv, pos)
    if floor > floors.get(name, 0):
        if name not in floors and len(floors) >= MAX_BUNDLES:
            raise _too_many()
        floors[name] = floor


def _too_many():
    return StateError("more than %d bundle floors: records the writer did not write; format the partition" % MAX_BUNDLES)


def _merge(floors, other):
    """Raise each of `floors` to `other`'s value for the same name."""
    for name in other:
        if other[name] > floors.get(name, 0):
            floors[name] = other[name]


def _above(floors, top):
    """Whether some name in `floors` is above its value in `top`."""
    for name in floors:
        if floors[name] > top.get(name, 0):
            return True
    return False


def _most(tops, which):
    """The largest of each monotonic value over the sectors `which` marks."""
    g = [0, 0, 0, {}]
    for t in range(len(tops)):
        if which[t]:
            for i in range(3):
                g[i] = max(g[i], tops[t][i])
            _merge(g[_G_BUNDLES], tops[t][_G_BUNDLES])
    return g


def _check_int(value, top):
    if not isinstance(value, int) or not 0 <= value <= top:
        raise ValueError("integer out of range")
    return value


def _check_root(data, version):
    if not 0 < len(data) <= MAX_ROOT:
        raise ValueError("root metadata must be 1-8192 bytes")
    _check_int(version, _U32)
