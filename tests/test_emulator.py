"""The emulated board running real MicroPython: esp32.Partition as MicroPython documents it,
machine, NVS, the filesystem, resets, and persistence of everything across boots."""

import pytest

from emuboard import app, board_runtime, new_flash
from mpboot import boards
from mpboot.emulator import runtimes
from mpboot.emulator.board import Board
from mpboot.emulator.vfs import mount, read_files
from mpboot.espidf import otadata as od


@pytest.fixture(params=runtimes.NAMES)
def boot(request):
    """boot(main_py, files=..., boots=1, **flash) -> records; the board is at boot.board. Each
    test runs on both runtimes: the unix port mounts the vfs partition with VfsLfs2, the
    WebAssembly port gets its files copied in and written back."""
    micropython = board_runtime(request.param)

    def run(main=None, boots=1, files=None, flash=None, timeout=20.0, **kw):
        if main is not None:
            files = dict(files or {}, **{"/main.py": main})
        flash = flash or new_flash(files, **kw)
        run.board = Board(flash, "esp32-4mb", runtime=micropython, run_timeout=timeout)
        return run.board.run(boots)
    return run


def lines(record):
    return record.output


# -- boot sequence and persistence -----------------------------------------------------------

def test_boot_py_writes_a_file_that_the_next_boot_reads(boot):
    boot_py = "try:\n    print('found', open('note.txt').read())\nexcept OSError:\n    print('no note')\n" \
              "with open('note.txt', 'w') as f:\n    f.write('written at boot %d' % __import__('machine').reset_cause())\n"
    first, second = boot(files={"/boot.py": boot_py}, boots=2)
    assert lines(first) == ["no note"] and first.outcome == "ok"
    assert lines(second) == ["found written at boot 1"]
    # The LittleFS image in flash holds it too, for any littlefs reader.
    part = boot.board.board.partition("vfs")
    fs = mount(bytearray(boot.board.flash.read(part.offset, part.size)))
    assert read_files(fs)[1]["/note.txt"] == b"written at boot 1"


def test_state_persists_in_the_flash_file(tmp_path, micropython):
    path = tmp_path / "flash.bin"
    flash = new_flash({"/main.py": "import os\nn = len(os.listdir('/'))\nopen('f%d' % n, 'w').close()\nprint(n)\n"},
                      path=path)
    flash.close()
    for expected in ("1", "2"):
        with Board(str(path), "esp32-4mb", runtime=micropython) as board:
            assert board.boot().output == [expected]


def test_boot_then_main_and_their_failures(boot):
    r, = boot("print('main')\nraise ValueError('broken')\n", files={"/boot.py": "print('boot')\n"})
    assert r.outcome == "exception"
    assert r.output[:2] == ["boot", "main"] and r.output[-1] == "ValueError: broken"
    assert any('File "main.py", line 2' in line for line in r.output)
    # A failing boot.py: main.py is not run (ports/esp32/main.c).
    r, = boot("print('main')\n", files={"/boot.py": "raise OSError(5)\n"})
    assert r.outcome == "exception" and "main" not in r.output


def test_empty_filesystem_is_formatted_on_first_boot(boot):
    r, = boot(None, files=None)
    assert r.output == ["Performing initial setup"] and r.outcome == "ok"
    part = boot.board.board.partition("vfs")
    files = read_files(mount(bytearray(boot.board.flash.read(part.offset, part.size))))[1]
    assert list(files) == ["/boot.py"] and files["/boot.py"].startswith(b"# This file is executed on every boot")


def test_corrupt_filesystem_hangs_like_inisetup(boot):
    flash = new_flash({"/main.py": "print(1)\n"})
    vfs = boards.load_board("esp32-4mb").partition("vfs")
    flash.load(vfs.offset, b"\x00" * 4096 * 2)
    r, = boot(flash=flash)
    assert r.outcome == "hang" and "LittleFS" in r.error


def test_listing_and_directories(boot):
    r, = boot("import os\nos.mkdir('lib')\nwith open('lib/x.py','w') as f:\n    f.write('X=5')\nos.rename('lib/x.py', 'lib/y.py')\n"
              "import y\nprint(sorted(os.listdir('/')), os.listdir('/lib'), y.X)\nprint(os.statvfs('/')[0:3])\n")
    assert r.output == ["['lib', 'main.py'] ['y.py'] 5", "(4096, 4096, 224)"]
    part = boot.board.board.partition("vfs")
    dirs, files = read_files(mount(bytearray(boot.board.flash.read(part.offset, part.size))))
    assert "/lib" in dirs and files["/lib/y.py"] == b"X=5" and "/lib/x.py" not in files


def test_full_filesystem_raises_enospc(boot):
    # 300 blocks of 4 KiB into a partition of 224 (a board's heap holds no 1 MiB buffer)
    r, = boot("buf = bytearray(4096)\ntry:\n    with open('big', 'wb') as f:\n        for i in range(300):\n"
              "            f.write(buf)\nexcept OSError as e:\n    print('error', e.args[0])\n")
    assert r.output == ["error 28"]


# -- esp32.Partition ----------------------------------------------------------------------

def test_partition_find_info_and_lookup(boot):
    r, = boot("""
import esp32
P = esp32.Partition
print([p.info()[4] for p in P.find()])
print([p.info()[4] for p in P.find(P.TYPE_DATA)])
print([p.info()[4] for p in P.find(P.TYPE_DATA, subtype=0x06)], P.find(label='ota_1')[0].info())
print(P(P.RUNNING).info()[4], P(P.BOOT).info()[4], P('vfs').info()[:2])
for bad in ('nope', 7):
    try:
        P(bad)
    except Exception as e:
        print(type(e).__name__, e.args)
print(P('ota_0'))
""")
    assert r.output == [
        "['ota_0', 'ota_1']",
        "['nvs', 'otadata', 'phy_init', 'vfs', 'mpboot']",
        "['mpboot'] (0, 17, 1638400, 1572864, 'ota_1', False)",
        "ota_0 ota_0 (1, 129)",
        "OSError (2,)",
        "ValueError ()",
        "<Partition type=0, subtype=16, address=65536, size=1572864, label=ota_0, encrypted=0>",
    ]


def test_readblocks_writeblocks_ioctl_semantics(boot):
    r, = boot("""
import esp32
p = esp32.Partition('mpboot')
n = p.ioctl(4, 0)
print(n, p.ioctl(5, 0))
p.writeblocks(1, b'\\xf0' * 4096)                  # erases block 1, then programs
buf = bytearray(4)
p.readblocks(1, buf, 10); print(bytes(buf))
p.writeblocks(1, b'\\x3c\\x3c', 100)              # offset: programs only (bits can only clear)
p.readblocks(1, buf, 99); print(bytes(buf))
p.writeblocks(1, b'\\x0f' * 4096)                 # no offset: erased again first
p.readblocks(1, buf, 99); print(bytes(buf))
p.ioctl(6, 1); p.readblocks(1, buf, 0); print(bytes(buf))
for args in ((n, bytearray(1)), (n - 1, bytearray(2), 4095), (n + 1, bytearray(1))):
    try:
        p.readblocks(*args)
    except OSError as e:
        print('read', e.args)
for args in ((0, b'x' * 100), (n, b'\\x00' * 4096), (0, b'x', 65537)):
    try:
        p.writeblocks(*args)
    except OSError as e:
        print('write', e.args)
q = esp32.Partition('mpboot', block_size=512)
print(q.ioctl(4, 0), q.ioctl(5, 0), q.ioctl(6, 0))
q.writeblocks(3, b'\\x11' * 512)                   # within a 4 KiB sector: the rest is kept
p.readblocks(0, buf, 1534); print(bytes(buf))
q.readblocks(3, buf, 508); print(bytes(buf))
""")
    assert r.outcome == "ok", r.output
    assert r.output == [
        "16 4096",
        "b'\\xf0\\xf0\\xf0\\xf0'",
        "b'\\xf000\\xf0'",
        "b'\\x0f\\x0f\\x0f\\x0f'",
        "b'\\xff\\xff\\xff\\xff'",
        "read (-260, 'ESP_ERR_INVALID_SIZE')",
        "read (-260, 'ESP_ERR_INVALID_SIZE')",
        "read (-258, 'ESP_ERR_INVALID_ARG')",
        "write (-260, 'ESP_ERR_INVALID_SIZE')",
        "write (-260, 'ESP_ERR_INVALID_SIZE')",
        "write (-258, 'ESP_ERR_INVALID_ARG')",
        "128 512 -22",
        "b'\\xff\\xff\\x11\\x11'",
        "b'\\x11\\x11\\x11\\x11'",
    ]


def test_partition_operations_are_flash_operations(boot):
    r, = boot("import esp32\np = esp32.Partition('mpboot')\np.writeblocks(0, bytearray(8192))\n"
              "p.writeblocks(0, b'ab', 16)\np.ioctl(6, 1)\n")
    # 2 sector erases + 1 write, 1 write, 1 erase (the vfs write-back is outside the model)
    assert r.flash == {"operations": 5, "erases": 3, "writes": 2}
    assert [op[1] for op in boot.board.flash.ops] == ["erase", "erase", "write", "write", "erase"]


def test_writing_the_running_app_panics(boot):
    r, second = boot("import esp32\nesp32.Partition(esp32.Partition.RUNNING).writeblocks(0, bytearray(4096))\n", boots=2)
    assert r.outcome == "panic" and "running app" in r.error
    assert second.reset_cause == 5 and second.slot == "ota_0"


def test_set_boot_checks_the_image_and_switches_slots(boot):
    main = """
import esp32, machine
P = esp32.Partition
run = P(P.RUNNING)
nxt = run.get_next_update()
print(run.info()[4], nxt.info()[4], nxt.get_next_update().info()[4], machine.reset_cause())
if run.info()[4] == 'ota_0':
    try:
        nxt.set_boot()
    except OSError as e:
        print('set_boot', e.args)
    with open('/app.bin', 'rb') as f:
        data = f.read()
    data += bytes(4096 - len(data) % 4096)
    nxt.writeblocks(0, data)
    nxt.set_boot()
    print('boot', P(P.BOOT).info()[4])
    machine.reset()
"""
    first, second = boot(main, boots=2, files={"/app.bin": app("2.0.0")})
    assert first.output == ["ota_0 ota_1 ota_0 1", "set_boot (-5379, 'ESP_ERR_OTA_VALIDATE_FAILED')", "boot ota_1"]
    assert first.outcome == "reset"
    assert second.slot == "ota_1" and second.app["version"] == "2.0.0"
    assert second.output == ["ota_1 ota_0 ota_1 5"]
    assert "otadata[1] NEW -> PENDING_VERIFY (first boot of this image)" in second.bootloader


def test_rollback_unless_the_new_app_confirms(boot):
    """ota_1 holds a new app marked NEW: it must confirm itself or the next boot rolls back."""
    entries = od.initial_image(0)[:4096] + od.OtaEntry.make(2, od.NEW).encode() + b"\xff" * 4064
    main = ("import esp32, machine\nP = esp32.Partition\nprint(P(P.RUNNING).info()[4])\n"
            "if P(P.RUNNING).info()[4] == 'ota_1' and machine.reset_cause() == machine.PWRON_RESET:\n"
            "    machine.reset()\n")
    records = boot(main, boots=3, slots={0: app("1.0.0"), 1: app("2.0.0")}, otadata_image=entries)
    assert [r.slot for r in records] == ["ota_1", "ota_0", "ota_0"]
    assert any("marked ABORTED" in line for line in records[1].bootloader)

    confirm = ("import esp32\nP = esp32.Partition\nprint(P(P.RUNNING).info()[4])\n"
               "P.mark_app_valid_cancel_rollback()\nimport machine\nif machine.reset_cause() == 1:\n    machine.reset()\n")
    records = boot(confirm, boots=2, slots={0: app("1.0.0"), 1: app("2.0.0")}, otadata_image=entries)
    assert [r.slot for r in records] == ["ota_1", "ota_1"]
    assert od.read(boot.board.flash.read(0xD000, 0x2000))[1].state == od.VALID


def test_mark_valid_on_factory_otadata_fails(boot):
    """No usable otadata entry (here an ABORTED one): ESP-IDF boots ota_0 without recording it,
    and esp_ota_mark_app_valid_cancel_rollback finds no active entry: ESP_FAIL."""
    aborted = od.OtaEntry.make(1, od.ABORTED).encode() + b"\xff" * (0x2000 - 32)
    r, = boot("import esp32\ntry:\n    esp32.Partition.mark_app_valid_cancel_rollback()\nexcept OSError as e:\n"
              "    print(e.args)\n", otadata_image=aborted)
    assert r.output == ["(1, 'ESP_FAIL')"] and r.slot == "ota_0"
    assert "no usable otadata entry and no factory app: trying ota_0" in r.bootloader


# -- machine ----------------------------------------------------------------------------------

def test_reset_causes_and_unique_id(boot):
    main = ("import machine\nc = machine.reset_cause()\nprint(c, machine.unique_id().hex(), machine.wake_reason())\n"
            "if c == machine.PWRON_RESET:\n    machine.reset()\nelif c == machine.SOFT_RESET:\n    machine.deepsleep(10)\n")
    records = boot(main, boots=3)
    assert [r.output for r in records] == [["1 240ac4000001 0"], ["5 240ac4000001 0"], ["4 240ac4000001 4"]]
    assert [r.outcome for r in records] == ["reset", "deepsleep", "ok"]


def test_watchdog_resets_a_stuck_app(boot):
    main = ("import machine, time\nif machine.reset_cause() != machine.WDT_RESET:\n    w = machine.WDT(timeout=200)\n"
            "    w.feed()\n    t = time.ticks_ms()\n    while time.ticks_diff(time.ticks_ms(), t) < 400:\n        pass\n"
            "    w.feed()\n    print('not reached')\nprint('after', machine.reset_cause())\n")
    first, second = boot(main, boots=2)
    assert first.outcome == "wdt" and first.output == []
    assert second.reset_cause == 3 and second.output == ["after 3"]


def test_hang_past_the_timeout_reboots(boot):
    main = ("import machine\nprint('cause', machine.reset_cause())\ntry:\n    open('hung')\nexcept OSError:\n"
            "    open('hung', 'w').close()\n    while True:\n        pass\n")
    first, second = boot(main, boots=2, timeout=1.0)
    assert first.outcome == "hang" and first.output == ["cause 1"]
    # no watchdog was armed: the emulator power-cycles the hung board
    assert second.output == ["cause 1"] and second.outcome == "ok"


def test_sys_exit_soft_reboots_without_the_bootloader(boot):
    main = "import sys, machine\nprint('run', machine.reset_cause())\ntry:\n    open('once')\nexcept OSError:\n" \
           "    open('once', 'w').close()\n    sys.exit()\n"
    first, second = boot(main, boots=2)
    assert first.outcome == "soft_reboot" and second.kind == "soft" and second.bootloader == []
    assert second.output == ["run 1"] and second.slot == "ota_0"


# -- NVS ------------------------------------------------------------------------------------

def test_nvs_values_persist_when_committed(boot):
    main = """
import esp32, machine
n = esp32.NVS('app')
if machine.reset_cause() == machine.PWRON_RESET:
    n.set_i32('count', -7)
    n.set_blob('blob', b'hello')
    n.commit()
    n.set_i32('lost', 1)
    machine.reset()
buf = bytearray(8)
print(n.get_i32('count'), n.get_blob('blob', buf), bytes(buf[:5]))
for call in (lambda: n.get_i32('lost'), lambda: n.get_i32('blob'), lambda: n.get_blob('blob', bytearray(2)),
             lambda: n.set_i32('k' * 16, 1), lambda: n.erase_key('nope')):
    try:
        call()
    except OSError as e:
        print(e.args)
n.erase_key('count')
n.commit()
"""
    first, second = boot(main, boots=2)
    assert first.outcome == "reset"
    assert second.output == [
        "-7 5 b'hello'",
        "(-4354, 'ESP_ERR_NVS_NOT_FOUND')",
        "(-4355, 'ESP_ERR_NVS_TYPE_MISMATCH')",
        "(-4364, 'ESP_ERR_NVS_INVALID_LENGTH')",
        "(-4361, 'ESP_ERR_NVS_KEY_TOO_LONG')",
        "(-4354, 'ESP_ERR_NVS_NOT_FOUND')",
    ]
