# A configuration that cannot be used never removes a check, on both runtimes: whatever the
# bytes of /mpboot.json, config raises ConfigError and nothing else, and context.load then takes
# the board and chip from the running image's manifest, so an image for another board is still
# refused. The device's esp32 module is a stand-in here (slots imports it on first use).
import sys

import devtest
from mpboot_fw import config, context, image, install, statelog
from mpboot_fw.config import ConfigError
from mpboot_fw.install import InstallError
from nor_ram import NorRam


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


IMAGE = _read("image.mpb")  # board esp32-4mb, chip 0, security version 5
C3 = _read("image_esp32c3.mpb")  # board esp32c3-4mb, chip 5
ANY_BOARD = _read("image_any_board.mpb")  # board "", chip 0
ROOT = _read("root.json")
BOARD_AT = image.manifest_offset(len(_read("app.bin"))) + 60  # the manifest's board field
GOOD = b'{"board": "esp32-4mb", "chip_id": 0, "policy": "every-boot"}'


def _path():
    if devtest.ON_MICROPYTHON:
        return "/tmp/mpboot-failclosed.json"
    import tempfile

    return tempfile.gettempdir() + "/mpboot-failclosed-%d.json" % id(_path)


def _written(data):
    path = _path()
    with open(path, "wb") as f:
        f.write(data)
    return path


def _remove(path):
    import os

    try:
        os.remove(path)
    except OSError:
        pass


def _load(data):
    path = _written(data)
    try:
        return config.load(path)
    finally:
        _remove(path)


def _refused(data):
    """The ConfigError config.load raises for a file holding `data` (fails on anything else)."""
    path = _written(data)
    try:
        return devtest.raises(ConfigError, config.load, path)
    finally:
        _remove(path)


def test_text_micropython_accepted_is_not_json_on_both_runtimes():
    assert _load(GOOD).board == "esp32-4mb"
    assert str(_refused(b'{"board": ["esp32-4mb"]}')) == "board must be text of 1-32 printable ASCII characters"
    cases = [
        b'{"board" "esp32-4mb"}',  # no colon
        b'{"board": "esp32-4mb" "chip_id": 0}',  # no comma
        b'{"board": "esp32-4mb"}\x00{"board": "other"}',  # bytes after a NUL
        b'{"chip_id": 0,}',  # trailing comma
        b'{"chip_id": 01}',  # leading zero
        b'{:1}',  # MicroPython: {}, the defaults with nothing logged
        b'{1: "esp32-4mb"}',  # MicroPython: an int key (TypeError escaped config)
        b'{"board": "\xff"}',  # not UTF-8
        b'{"board": "\xed\xa0\x80"}',  # a surrogate, UTF-8 encoded: CPython's json took it
        b'{"board": [[]]}',  # deeper than a configuration is
    ]
    for data in cases:
        e = _refused(data)
        assert str(e) == "not JSON", (data, str(e))


def test_nesting_or_surrogates_never_escape_as_another_error():
    # 1 KiB of "[": CPython's json raised RecursionError.
    assert str(_refused(b"[" * config.MAX_SIZE)) == "not JSON"
    for data, message in ((b'{"board": "\\ud800"}', "board must be text of 1-32 printable ASCII characters"),
                          (b'{"board": "\\ud83d\\ude00"}', "board must be text of 1-32 printable ASCII characters"),
                          (b'{"\\ud800": 1}', "unknown field: not text of 1-32 printable ASCII characters")):
        e = _refused(data)
        assert str(e) == message, (data, str(e))


def test_a_file_that_cannot_be_read_is_not_a_missing_file():
    # A directory: CPython fails to open it, MicroPython (WebAssembly port) to read it.
    e = devtest.raises(ConfigError, config.load, devtest.data_path("tuf"))
    assert str(e).startswith("cannot "), str(e)
    assert config.load(devtest.data_path("no-such-file.json")).board is None


class Slot(NorRam):
    """A RAM OTA slot with what slots and install use of esp32.Partition."""

    def __init__(self, label, data=b"", blocks=8):
        NorRam.__init__(self, blocks)
        self.label = label
        self.mem[:len(data)] = data
        self.other = None
        self.boot_selected = 0

    def info(self):
        return (0, 0x10, 0, self.blocks * 4096, self.label, False)

    def get_next_update(self):
        return self.other

    def set_boot(self):
        self.boot_selected += 1


class _Partition:
    """esp32.Partition as slots calls it: Partition(RUNNING/BOOT) and Partition.find."""
    RUNNING = 1
    BOOT = 2
    TYPE_DATA = 1

    def __init__(self, running, state):
        self.running = running
        self.state = state

    def __call__(self, which):
        return self.running

    def find(self, type_, label=None):
        return [self.state] if label == "mpboot" else []


class _Esp32:
    def __init__(self, partition):
        self.Partition = partition


def _install(config_bytes, running_image, new_image):
    """context.load with /mpboot.json holding `config_bytes` (None: no file) on a device running
    `running_image` in ota_0, then an install of `new_image` into ota_1.
    Returns (ctx, the InstallError or None, ota_1)."""
    running, target = Slot("ota_0", running_image), Slot("ota_1")
    running.other = target
    state = NorRam(4)
    statelog.format_partition(state, ROOT)
    sys.modules["esp32"] = _Esp32(_Partition(running, state))
    path = _path() if config_bytes is None else _written(config_bytes)
    try:
        ctx = context.load(path)
        try:
            install.install(ctx, _Chunks(new_image), target, len(new_image))
            return ctx, None, target
        except InstallError as e:
            return ctx, e, target
    finally:
        del sys.modules["esp32"]
        _remove(path)


class _Chunks:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def _on_board(data, board):
    """`data` with its manifest's board field saying `board` (read, never verified, here)."""
    out = bytearray(data)
    out[BOARD_AT:BOARD_AT + 32] = board.encode() + bytes(32 - len(board))
    return bytes(out)


def test_a_misspelt_field_keeps_the_board_check():
    # Before: the defaults (board and chip unset) and the image for another board installed.
    wrover = _on_board(IMAGE, "esp32-wrover")
    ctx, e, target = _install(b'{"board": "esp32-wrover", "chip_id": 0, "polcy": "every-boot"}', wrover, IMAGE)
    assert e is not None and e.reason == "wrong-board", e
    assert ctx.config_error == "unknown field polcy"
    assert (ctx.cfg.board, ctx.cfg.chip_id, ctx.cfg.policy, ctx.cfg.health) == ("esp32-wrover", 0, "every-boot", None)
    assert target.boot_selected == 0 and ctx.state.pending is None
    assert [ev[1:3] for ev in ctx.state.events()] == [("refused", "wrong-board")]
    ctx, e, _ = _install(b'{"board": "esp32c3-4mb" "chip_id": 5}', C3, IMAGE)  # not JSON
    assert ctx.config_error == "not JSON" and e.reason == "wrong-chip"


def test_a_state_label_no_partition_has_gives_the_defaults():
    # Before: OSError from context.load, before the stage could log anything.
    wrover = _on_board(IMAGE, "esp32-wrover")
    ctx, e, _ = _install(b'{"board": "esp32-4mb", "chip_id": 0, "policy": "trial-only", "state": "mpbot"}', wrover, IMAGE)
    assert ctx.config_error == "state: no partition mpbot" and e.reason == "wrong-board"
    assert (ctx.cfg.board, ctx.cfg.policy, ctx.cfg.state) == ("esp32-wrover", "every-boot", "mpboot")


def test_without_a_file_the_board_is_the_running_images():
    ctx, e, _ = _install(None, _on_board(IMAGE, "esp32-wrover"), IMAGE)
    assert ctx.config_error is None and (ctx.cfg.board, ctx.cfg.chip_id) == ("esp32-wrover", 0)
    assert e.reason == "wrong-board"
    # Running an image for any board of its chip: only such images fit.
    ctx, e, _ = _install(None, ANY_BOARD, IMAGE)
    assert (ctx.cfg.board, ctx.cfg.chip_id) == ("", 0) and e.reason == "wrong-board"
    ctx, e, target = _install(None, IMAGE, ANY_BOARD)
    assert e is None and target.boot_selected == 1


def test_a_good_file_still_decides():
    ctx, e, target = _install(GOOD, _on_board(IMAGE, "esp32-wrover"), IMAGE)
    assert ctx.config_error is None and e is None and target.boot_selected == 1


def test_an_unreadable_running_manifest_refuses_every_image():
    # Neither the file nor the running image says what this device is: nothing installs.
    ctx, e, target = _install(b'{"bord": "esp32-4mb"}', b"", IMAGE)
    assert ctx.config_error == "unknown field bord; no board or chip: running image bad-app"
    assert ctx.cfg.chip_id == context.NO_CHIP and e.reason == "wrong-chip" and target.boot_selected == 0
    ctx, e, _ = _install(None, b"", ANY_BOARD)
    assert ctx.config_error == "no board or chip: running image bad-app" and e.reason == "wrong-chip"


def test_the_update_configuration_raises_only_its_own_error():
    from mpboot_fw import otaconfig

    good = b'{"url": "https://u.example.com/", "ca": "/ca.pem"'
    cases = [
        (good + b"}", None),
        (good + b' "token": "t"}', "not JSON"),  # no comma: MicroPython took it
        (good + b'}\x00{"url": "https://evil/"}', "not JSON"),
        (good + b', 1: "t"}', "not JSON"),  # MicroPython: an int key, TypeError escaped
        (b"[" * config.MAX_SIZE, "not JSON"),  # CPython: RecursionError escaped
        (good + b', "token": "\\ud800"}', "token must be text of 1-256 printable ASCII characters"),
        (good + b', "token": "a b"}', "token must be text of 1-256 printable ASCII characters"),
        (good + b', "\\ud800": 1}', "unknown field: not text of 1-32 printable ASCII characters"),
    ]
    for data, message in cases:
        path = _written(data)
        try:
            if message is None:
                assert otaconfig.load(path).url == "https://u.example.com/"
                continue
            e = devtest.raises(otaconfig.OtaConfigError, otaconfig.load, path)
        finally:
            _remove(path)
        assert str(e) == message, (data, str(e))
    e = devtest.raises(otaconfig.OtaConfigError, otaconfig.load, devtest.data_path("tuf"))
    assert str(e).startswith("cannot "), str(e)
