# MicroPython's ROMFS image (mpboot_fw.romfs) on every runtime: the layout and stream, bad
# entries and bad reads with their reasons, and write_partition on a flash double cut at every
# operation. Byte-equality with mpremote's builder and mounting by the real vfs.VfsRom are the
# host's tests (tests/test_romfs_oracle.py).
import devtest
from mpboot_fw import romfs
from mpboot_fw.romfs import RomfsError
from nor_ram import BLOCK, NorRam, PowerCut


class Data:
    """A file of `data` for open_file: readinto gives at most `step` bytes a call; `closed`."""

    def __init__(self, data, step=1 << 30):
        self.data = data
        self.at = 0
        self.step = step
        self.closed = False

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.at, self.step)
        buf[:n] = self.data[self.at:self.at + n]
        self.at += n
        return n

    def close(self):
        self.closed = True


def _pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def _opener(files, step=1 << 30, opened=None):
    def open_file(path):
        f = Data(files[path], step)
        if opened is not None:
            opened.append(f)
        return f
    return open_file


def _image(files):
    return romfs.Image([(p, len(d)) for p, d in files.items()])


def _bytes(files, buf_size=4096, step=1 << 30):
    out = bytearray()
    romfs.Image([(p, len(d)) for p, d in files.items()]).write(
        lambda mv: out.extend(mv), _opener(files, step), bytearray(buf_size))
    return bytes(out)


def test_a_tiny_image_is_the_documented_bytes():
    # docs/romfs.md walks through these bytes.
    image = romfs.Image([("lib/ab.py", 4)])
    got = _bytes({"lib/ab.py": b"x=1\n"})
    assert got == bytes.fromhex("d2cd3114" "0412036c6962" "050c0561622e7079" "0204" "783d310a"), got
    assert image.size == len(got) == 24
    # The odd total gets a leading zero digit in the length, as mpremote writes it.
    assert _bytes({"a.py": b"x=1\n"}) == bytes.fromhex("d2cd31800d" "050b04612e7079" "0204783d310a")
    assert _bytes({}) == bytes.fromhex("d2cd3100")


def test_size_is_the_length_written_across_varuint_boundaries():
    for n in (0, 1, 127, 128, 16383, 16384):
        for name in ("a", "b" * 120, "c" * 255):
            files = {"d/" + name: _pattern(n, 1), "e": b"12"}
            got = _bytes(files)
            assert _image(files).size == len(got), (n, name)
            assert got[:3] == romfs.HEADER and len(got) % 2 == 0


def test_entries_are_sorted_by_name_files_and_directories_together():
    files = {"b/y": b"1", "a": b"22", "b/x/z": b"333", "a_": b"4444", "B": b"5"}
    got = _bytes(files)
    names = [b"B", b"a", b"a_", b"b", b"x", b"z", b"y"]
    at = [got.find(b"\x01" + n if len(n) == 1 else b"\x02" + n) for n in names]
    assert at == sorted(at) and -1 not in at, at
    # The order of the entries given does not matter.
    assert _bytes(dict(reversed(list(files.items())))) == got


def test_the_stream_is_whole_buffers_but_the_last_and_the_same_for_any_buffer_or_read_size():
    files = {"p/q.mpy": _pattern(10000, 3), "p/r": b"", "s": _pattern(300, 5)}
    want = _bytes(files)
    for size, step in ((4096, 1 << 30), (64, 7), (1, 1), (5000, 100)):
        buf = bytearray(size)
        chunks = []

        def sink(mv):
            assert len(mv) > 0
            chunks.append(bytes(mv))
            mv[0] = mv[0]  # a view of buf, writable

        opened = []
        romfs.Image([(p, len(d)) for p, d in files.items()]).write(sink, _opener(files, step, opened), buf)
        assert b"".join(chunks) == want, size
        assert all(len(c) == size for c in chunks[:-1]), size
        assert 0 < len(chunks[-1]) <= size
        assert len(opened) == 3 and all(f.closed for f in opened)  # the empty file is opened too


def _reason(entries):
    return devtest.raises(RomfsError, romfs.Image, entries).reason


def test_bad_entries_are_refused_with_their_reason():
    long = "n" * 256
    for entries, reason in (
        ([("/a.py", 1)], "bad-path"),
        ([("a//b", 1)], "bad-path"),
        ([("a/", 1)], "bad-path"),
        ([("", 1)], "bad-path"),
        ([("../a", 1)], "bad-path"),
        ([("a/../b", 1)], "bad-path"),
        ([("./a", 1)], "bad-path"),
        ([("a/" + long, 1)], "bad-path"),
        ([("caf\u00e9.py", 1)], "bad-path"),
        ([("a\x00b", 1)], "bad-path"),
        ([("a\nb", 1)], "bad-path"),
        ([(b"a.py", 1)], "bad-path"),
        ([("a.py", -1)], "bad-size"),
        ([("a.py", "1")], "bad-size"),
        ([("a.py", 1), ("a.py", 2)], "duplicate-path"),
        ([("a/b", 1), ("a/b", 1)], "duplicate-path"),
        ([("a", 1), ("a/b", 1)], "path-conflict"),
        ([("a/b", 1), ("a", 1)], "path-conflict"),
        ([("a/b/c", 1), ("a/b", 1)], "path-conflict"),
    ):
        assert _reason(entries) == reason, (entries, reason)
    e = devtest.raises(RomfsError, romfs.Image, [("a", 1), ("a/b", 1)])
    assert str(e) == "path-conflict: a/b", str(e)
    # A name of 255 bytes and a space are fine.
    romfs.Image([("a/" + long[1:], 0), ("with space", 0)])


def test_a_file_shorter_or_longer_than_its_entry_is_file_size_and_closed():
    for data, words in ((b"abc", "a.py: 3 of 4 bytes"), (b"abcde", "a.py: more than 4 bytes")):
        for buf_size in (4096, 13):  # the file's end inside the buffer, and at its end
            opened = []
            e = devtest.raises(RomfsError, romfs.Image([("a.py", 4)]).write, lambda mv: None,
                               _opener({"a.py": data}, 1 << 30, opened), bytearray(buf_size))
            assert e.reason == "file-size" and str(e) == "file-size: " + words, str(e)
            assert opened[0].closed


# -- write_partition ----------------------------------------------------------------------------

FILES = {"mpboot_fw/stage.mpy": _pattern(5000, 11), "mpboot_fw/__init__.mpy": b"",
         "mpboot_fw/z.mpy": _pattern(6000, 13), "boot.py": b"import mpboot_fw\n"}
WANT = _bytes(FILES)
MARK = b"\x5a" * BLOCK  # what the blocks past the image hold: written, so never erased by the writer


OLD = _bytes({"old.py": _pattern(6000, 1)})


def _flash(blocks=6):
    """A partition holding an older image in its first blocks and a mark in the rest."""
    part = NorRam(blocks)
    part.mem[:len(OLD)] = OLD
    for n in range(2, blocks):
        part.mem[n * BLOCK:(n + 1) * BLOCK] = MARK
    part.ops = 0
    return part


def _has_header(part):
    return bytes(part.mem[:3]) == romfs.HEADER


def _write(part, files=FILES, step=1 << 30):
    romfs.write_partition(part, _image(files), _opener(files, step), bytearray(BLOCK))


def test_write_partition_writes_the_image_padded_and_nothing_past_it():
    part = _flash()
    _write(part, step=1000)
    used = (len(WANT) + BLOCK - 1) // BLOCK
    assert used == 3
    assert bytes(part.mem[:len(WANT)]) == WANT
    assert bytes(part.mem[len(WANT):used * BLOCK]) == b"\xff" * (used * BLOCK - len(WANT))
    assert all(bytes(part.mem[n * BLOCK:(n + 1) * BLOCK]) == MARK for n in range(used, part.blocks))
    assert part.faults == 0 and part.misaligned == 0
    assert part.erases[:used] == [1] * used and part.erases[used:] == [0] * (part.blocks - used)


def test_a_power_cut_at_any_operation_leaves_no_header_or_the_whole_image():
    done = NorRam(6)
    _write(done)
    total = done.ops
    assert total == 1 + 2 * 2 + 2  # erase 0; erase and write 1, 2; block 0, then its header unit
    complete = 0
    for index in range(total):
        for mode in ("before", "torn", "after"):
            part = _flash()
            part.cut(index, mode)
            devtest.raises(PowerCut, _write, part)
            if index == 0 and mode == "before":  # nothing done: the old image, whole
                assert bytes(part.mem[:len(OLD)]) == OLD
            elif _has_header(part):
                assert bytes(part.mem[:len(WANT)]) == WANT, (index, mode)
                complete += 1
            assert all(bytes(part.mem[n * BLOCK:(n + 1) * BLOCK]) == MARK for n in range(3, part.blocks))
    # Only a cut in the header unit's write, once its magic is in (torn or after), has the image.
    assert complete == 2, complete


def test_a_single_block_image_cut_anywhere():
    files = {"a": b"1"}
    want = _bytes(files)
    for index in range(3):
        for mode in ("before", "torn", "after"):
            part = _flash()
            part.cut(index, mode)
            devtest.raises(PowerCut, _write, part, files)
            if index == 0 and mode == "before":
                continue  # nothing done: the old image
            assert not _has_header(part) or bytes(part.mem[:len(want)]) == want, (index, mode)


def test_an_image_larger_than_the_partition_writes_nothing():
    part = _flash(2)
    before = bytes(part.mem)
    e = devtest.raises(RomfsError, _write, part)
    assert e.reason == "too-large" and part.ops == 0 and bytes(part.mem) == before, str(e)
    # The largest image that fits, fits; a byte more is too large.
    n = 2 * BLOCK
    while romfs.Image([("f", n)]).size > 2 * BLOCK:
        n -= 1
    files = {"f": _pattern(n, 2)}
    assert _image(files).size == 2 * BLOCK, _image(files).size
    _write(part, files)
    assert _has_header(part) and bytes(part.mem) == _bytes(files)
    assert devtest.raises(RomfsError, _write, part, {"f": _pattern(n + 1, 2)}).reason == "too-large"


def test_a_bad_read_mid_write_leaves_no_header():
    for data in (FILES["mpboot_fw/z.mpy"][:-1], FILES["mpboot_fw/z.mpy"] + b"!"):
        part = _flash()
        files = dict(FILES)
        image = _image(files)
        files["mpboot_fw/z.mpy"] = data
        e = devtest.raises(RomfsError, romfs.write_partition, part, image, _opener(files), bytearray(BLOCK))
        assert e.reason == "file-size" and not _has_header(part), str(e)


def test_files_changed_between_the_passes_leave_no_header():
    part = _flash()
    reads = []

    def open_file(path):
        reads.append(path)
        data = FILES[path]
        if path == "boot.py" and reads.count(path) == 2:  # block 0's first file, read again
            data = data.upper()
        return Data(data)

    e = devtest.raises(RomfsError, romfs.write_partition, part, _image(FILES), open_file, bytearray(BLOCK))
    assert e.reason == "changed" and not _has_header(part), str(e)


def test_an_io_error_mid_write_leaves_no_header():
    class Failing(NorRam):
        fail = False

        def writeblocks(self, n, buf, off=None):
            if n == 2 and self.fail:
                raise OSError(5)
            NorRam.writeblocks(self, n, buf, off)

    part = Failing(6)
    _write(part)
    assert _has_header(part)
    part.fail = True
    devtest.raises(OSError, _write, part)
    assert not _has_header(part)


def test_a_buffer_that_is_not_one_block_is_refused():
    devtest.raises(ValueError, romfs.write_partition, _flash(), _image(FILES), _opener(FILES), bytearray(512))


class Encrypted(NorRam):
    """An encrypted partition (info()[5]): each 16-byte unit may be programmed once after an
    erase; a second program is counted in `twice`."""

    def __init__(self, blocks):
        NorRam.__init__(self, blocks)
        self.units = bytearray(blocks * BLOCK // 16)
        self.twice = 0

    def info(self):
        return (1, 0x8F, 0, self.blocks * BLOCK, "romfs", True)

    def ioctl(self, op, arg):
        if op == 6:
            for u in range(arg * BLOCK // 16, (arg + 1) * BLOCK // 16):
                self.units[u] = 0
        return NorRam.ioctl(self, op, arg)

    def writeblocks(self, n, buf, off=None):
        start = n * BLOCK + (off or 0)
        for u in range(start // 16, (start + len(buf)) // 16):
            self.twice += self.units[u]
            self.units[u] = 1
        NorRam.writeblocks(self, n, buf, off)


def test_an_encrypted_partition_has_each_unit_written_once_the_header_unit_last():
    part = Encrypted(6)
    log = []
    writeblocks = part.writeblocks

    def logged(n, buf, off=None):
        log.append((n, off, len(buf)))
        writeblocks(n, buf, off)

    part.writeblocks = logged
    _write(part)
    assert bytes(part.mem[:len(WANT)]) == WANT
    assert part.twice == 0 and part.misaligned == 0
    assert log[-2:] == [(0, 16, BLOCK - 16), (0, 0, 16)], log
