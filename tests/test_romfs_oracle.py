"""mpboot_fw.romfs against the independent implementations: mpremote's builder (VfsRomWriter via
make_romfs, the reference for the bytes) on CPython, and MicroPython's own vfs.VfsRom on the
unix port, which must mount the image, read every file back, list every directory and import
a .mpy from it in place. The same module builds the device package's image inside the unix
port too (as the boot stage would), equal to the host's, in a fixed heap (docs/romfs.md,
"Cost")."""

import contextlib
import io
import os
from pathlib import Path

import pytest

import mpboot_fw
from mpboot import mpycross
from mpboot.mpy import unixport
from mpboot_fw import romfs
from mpremote.romfs import make_romfs

PACKAGE = Path(mpboot_fw.__file__).resolve().parent


def _pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def package_files():
    """{"mpboot_fw/x.mpy": bytes}: the device package compiled as mpycross.compile_package
    does for the board (the unix port imports the same .mpy version)."""
    assert mpycross.DEFAULT == unixport.REPL_MPY
    return {"mpboot_fw/" + p.stem + ".mpy": mpycross.compile_source(p.read_bytes(), "/lib/mpboot_fw/" + p.name,
                                                                    mpycross.DEFAULT)
            for p in sorted(PACKAGE.glob("*.py"))}


def ours(files):
    out = bytearray()
    image = romfs.Image([(p, len(d)) for p, d in files.items()])
    image.write(out.extend, lambda p: io.BytesIO(files[p]), bytearray(4096))
    assert image.size == len(out)
    return bytes(out)


def mpremotes(tmp_path, files):
    src = tmp_path / "src"
    src.mkdir()
    for path, data in files.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    with contextlib.redirect_stdout(io.StringIO()):  # it draws the tree
        return make_romfs(str(src), mpy_cross=False)


TREES = {
    "one-file": {"main.py": b"print('hi')\n"},
    "empty-file": {"empty": b""},
    "odd-total": {"a.py": b"x=1\n"},
    "even-total": {"ab.py": b"x=1\n"},
    "nested": {"a/b/c/d.txt": b"deep", "a/b/e": b"", "a/f.py": b"1", "g": b"2"},
    "sorted-across-files-and-dirs": {"b/x": b"1", "a": b"2", "a_": b"3", "B/y": b"4", "a-/z": b"5", "c.py": b"6"},
    "varuint-127-128": {"f127": _pattern(127, 1), "f128": _pattern(128, 2), "n" * 125: b"", "d/" + "m" * 126: b"7"},
    "varuint-16383-16384": {"f16383": _pattern(16383, 3), "f16384": _pattern(16384, 4),
                            "d/f16382": _pattern(16382, 5)},
    "long-name": {"x" * 255: b"long", "d" * 255 + "/e": b""},
}


@pytest.mark.parametrize("name", sorted(TREES))
def test_the_bytes_are_mpremotes(tmp_path, name):
    files = TREES[name]
    assert ours(files) == mpremotes(tmp_path, files)


def test_odd_and_even_trees_are_both_covered():
    # mpremote pads an odd total with a leading zero digit (0x80) in the length.
    padded = {name: ours(files)[3] == 0x80 for name, files in TREES.items()}
    assert any(padded.values()) and not all(padded.values()), padded


def test_the_device_packages_image_is_mpremotes(tmp_path):
    files = package_files()
    files["boot.py"] = b"import mpboot_fw\n"
    assert len(files) > 20
    assert ours(files) == mpremotes(tmp_path, files)


# The image mounted by MicroPython's own VfsRom (extmod/vfs_rom.c), from a file read into RAM (a
# board maps its partition; VfsRom takes any buffer).
MOUNT = """
import os, sys, vfs
with open('/image', 'rb') as f:
    data = f.read()
vfs.mount(vfs.VfsRom(data), '/rom')

def walk(d, out):
    for name in sorted(os.listdir(d)):
        path = d + '/' + name
        if os.stat(path)[0] & 0x4000:
            walk(path, out)
        else:
            with open(path, 'rb') as f:
                out.append((path[5:], f.read()))
    return out

print(repr(walk('/rom', [])))
"""


def _mount(mp, image, extra=""):
    mp.boot()
    mp.put_file("/image", image)
    return mp.run(MOUNT + extra).check()


@pytest.mark.parametrize("name", ["nested", "sorted-across-files-and-dirs", "varuint-16383-16384", "empty-file"])
def test_vfsrom_reads_every_file_back(micropython_unix, name):
    files = TREES[name]
    text = _mount(micropython_unix, ours(files))
    got = eval(text.strip().splitlines()[-1])  # noqa: S307: our own repr of a list of (str, bytes)
    assert got == sorted(files.items())


def test_vfsrom_lists_directories_and_imports_the_package_in_place(micropython_unix):
    files = package_files()
    files["app/__init__.py"] = b""
    files["app/hello.py"] = b"WORD = 'from rom'\n"
    image = ours(files)
    text = _mount(micropython_unix, image, """
print(sorted(os.listdir('/rom')), sorted(os.listdir('/rom/app')))
sys.path.insert(0, '/rom')
import app.hello
from mpboot_fw import version, cjson
print(app.hello.WORD, version.__file__, cjson.__file__)
print(version.parse('1.2.3') < version.parse('1.10.0'))
""")
    lines = text.strip().splitlines()
    assert lines[-3] == "['app', 'mpboot_fw'] ['__init__.py', 'hello.py']"
    assert lines[-2] == "from rom /rom/mpboot_fw/version.mpy /rom/mpboot_fw/cjson.mpy"
    assert lines[-1] == "True"
    assert eval(lines[-4]) == sorted(files.items())  # noqa: S307


# The device building the package's image from its files, as the boot stage does from its copy
# of the package: entries from os.stat, the image written to a file through one 4 KiB buffer.
DEVICE_SETUP = """
import os, time, gc
from mpboot_fw import romfs
names = sorted(os.listdir('/src/mpboot_fw'))
entries = [('mpboot_fw/' + n, os.stat('/src/mpboot_fw/' + n)[6]) for n in names]
buf = bytearray(4096)
out = open('/out', 'wb')
def open_file(p):
    return open('/src/' + p, 'rb')
"""
DEVICE_STEPS = [
    ("layout", "t0 = time.ticks_us()\nimage = romfs.Image(entries)"),
    ("write", "image.write(out.write, open_file, buf)\nt1 = time.ticks_us()\nout.close()"),
]
# Free heap (unix port bytes, beside the imported module and the entries) from which the layout and
# the write fit: 15,616 measured with MPBOOT_ROMFS_SWEEP=1 (docs/romfs.md, "Cost").
NEEDS_UNIX = 16 * 1024


def _put_package(mp, files):
    mp.put_firmware()
    for path, data in files.items():
        mp.put_file("/src/" + path, data)


def test_the_device_builds_the_same_image_in_a_fixed_heap(micropython_unix):
    import fixedheap

    files = package_files()
    want = ours(files)
    mp = unixport.UnixMicroPython(heap=1024 * 1024)
    try:
        result = fixedheap.run_with_free(mp, lambda m: _put_package(m, files), DEVICE_SETUP, DEVICE_STEPS,
                                         NEEDS_UNIX)
        assert result["failed"] is None, result
        assert Path(mp.root, "out").read_bytes() == want
        # Well below what a board without PSRAM has (unixport.board_heap(): 146 KiB here).
        assert NEEDS_UNIX < unixport.board_heap() // 8
    finally:
        mp.close()


def test_the_time_the_device_takes_to_build_the_packages_image(micropython_unix):
    files = package_files()
    mp = micropython_unix
    mp.boot()
    _put_package(mp, files)
    mp.run(DEVICE_SETUP).check()
    for _, code in DEVICE_STEPS:
        mp.run(code).check()
    us = int(mp.run("print(time.ticks_diff(t1, t0))").check().split()[-1])
    assert Path(mp.root, "out").read_bytes() == ours(files)
    print("package image: %d files, %d bytes, laid out and written in %d us on the unix port" % (len(files), len(ours(files)), us))
    assert us < 5 * 1000 * 1000


def test_too_little_heap_is_a_clean_memory_error(micropython_unix):
    import fixedheap

    files = package_files()
    mp = unixport.UnixMicroPython(heap=1024 * 1024)
    try:
        result = fixedheap.run_with_free(mp, lambda m: _put_package(m, files), DEVICE_SETUP, DEVICE_STEPS, 512)
        assert result["failed"] is not None and "MemoryError" in result["failed"][1], result
    finally:
        mp.close()


if os.environ.get("MPBOOT_ROMFS_SWEEP") == "1":
    def test_measure_the_least_free_heap(micropython_unix):
        """MPBOOT_ROMFS_SWEEP=1: every free size down from 32 KiB in 256-byte steps, to the first
        failure (what NEEDS_UNIX is set from)."""
        import fixedheap

        files = package_files()
        mp = unixport.UnixMicroPython(heap=1024 * 1024)
        try:
            free = 32 * 1024
            passed = []
            while free > 0:
                result = fixedheap.run_with_free(mp, lambda m: _put_package(m, files), DEVICE_SETUP,
                                                 DEVICE_STEPS, free)
                if result["failed"] is not None:
                    print("first failure at %d bytes free: %s" % (free, result["failed"]))
                    break
                passed.append(free)
                free -= 256
            print("passes down to %d bytes free" % passed[-1])
        finally:
            mp.close()
