"""The emulated board: NOR flash, ESP-IDF's second-stage bootloader, and real MicroPython.

    from mpboot.emulator.board import Board
    with Board("flash.bin", "esp32-4mb") as board:
        record = board.boot()          # one boot: bootloader decisions, the app's run, outcome
        records = board.run(boots=3)   # boot, and boot again after each reset

One `boot()`:
1. (hard boots) the bootloader (bootloader.py) reads the partition table and otadata, applies
   the rollback rules, validates the image and picks the slot, logging each decision;
2. a fresh interpreter of the real MicroPython runtime (emulator/runtimes.py) gets the board's
   modules (mpylib/: esp32, machine, ... with their host side in app.py) and the `vfs`
   partition at `/`: on the unix port mounted by its own VfsLfs2 on esp32.Partition, as
   _boot.py does (every LittleFS write a flash operation of the model); on the WebAssembly port
   its files copied in and written back (vfs.Volume). Then boot.py and main.py run as
   ports/esp32/main.c does;
3. the boot ends with an outcome, and the next boot starts accordingly:

   | outcome      | what happened                                | next boot, reset_cause()      |
   |--------------|----------------------------------------------|-------------------------------|
   | ok           | main.py returned (a board sits in the REPL)  | power cycle: PWRON_RESET [1]  |
   | exception    | boot.py or main.py raised (traceback printed)| power cycle: PWRON_RESET [1]  |
   | soft_reboot  | SystemExit / machine.soft_reset()            | soft: no bootloader, same cause |
   | reset        | machine.reset()                              | SOFT_RESET                    |
   | deepsleep    | machine.deepsleep()                          | DEEPSLEEP_RESET               |
   | wdt          | machine.WDT not fed in time                  | WDT_RESET                     |
   | hang         | still running at `run_timeout`               | power cycle [1]               |
   | panic        | a flash write ESP-IDF aborts on              | SOFT_RESET (ESP_RST_PANIC)    |
   | power_cut    | the flash's CutPlan fired                    | PWRON_RESET                   |
   | no_app, bad_partition_table | nothing the bootloader can boot | SOFT_RESET (it resets forever) |

   [1] WDT_RESET instead when the app had created a machine.WDT: nothing feeds it any more.

The image of the app in the slot gives its identity (version, secure_version); its machine code
is not run, MicroPython is (see docs/emulator.md for what that leaves out).
"""

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from littlefs import LittleFSError

from mpboot import boards
from mpboot.emulator.app import AppSession
from mpboot.emulator.flash import NorFlash, PowerCut
from mpboot.emulator import bootloader, runtimes
from mpboot.emulator.vfs import CORRUPT, Volume, unusable
from mpboot.errors import MpbootError
from mpboot.espidf import partition_table as pt

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
CAUSE_NAMES = {PWRON_RESET: "PWRON_RESET", HARD_RESET: "HARD_RESET", WDT_RESET: "WDT_RESET",
               DEEPSLEEP_RESET: "DEEPSLEEP_RESET", SOFT_RESET: "SOFT_RESET"}
NEXT_CAUSE = {"reset": SOFT_RESET, "panic": SOFT_RESET, "deepsleep": DEEPSLEEP_RESET, "wdt": WDT_RESET,
              "power_cut": PWRON_RESET, "no_app": SOFT_RESET, "bad_partition_table": SOFT_RESET}
MPYLIB = Path(__file__).with_name("mpylib")
ROOT = "/flash"  # where the board's files live in the interpreter's own filesystem
DEFAULT_UNIQUE_ID = bytes.fromhex("240ac4000001")

SETUP = """
import sys
sys.path.insert(0, '/_emu')
for m in %(modules)r:
    __import__(m)
sys.path.pop(0)
__import__('machine')._init(%(cause)d, %(uid)r, %(wake)d)
%(mount)s
del sys, m
"""
# mpylib/ modules only the WebAssembly port needs: it has no VfsLfs2. (Its socket and ssl are
# the host's, emulator/net.py; on the unix port mpylib/unix/ replaces them with the port's own.)
WASM_ONLY = ("_copyvfs",)
# The filesystem: mounted from flash by the interpreter (_boot.py), where it has VfsLfs2, its
# reads served from a copy of the flash that NorFlash.mirror keeps equal ...
FLASH_COPY = "/_emu/flash.bin"
MOUNT_FLASH = ("__import__('esp32')._read_from(%r)\n__import__('_emu').mount_flash()\n__import__('_emu').mount_romfs()"
               % FLASH_COPY)
# ... else the files copied in beforehand, under ROOT, and mounted at / (mpylib/_copyvfs.py).
COPY_IN = """
import os
for d in %(dirs)r:
    try:
        os.mkdir(d)
    except OSError:
        pass
__import__('_copyvfs').setup(%(root)r)
del os, d
"""
MAIN = "__import__('_emu').main(globals(), %r)"  # the flag: run main.py after boot.py


@dataclass
class BootRecord:
    index: int
    kind: str  # "hard" (through the bootloader) or "soft" (MicroPython restarted itself)
    reset_cause: int
    bootloader: list = field(default_factory=list)
    slot: str = None
    app: dict = None  # version, secure_version, project_name of the image that booted
    outcome: str = None
    output: list = field(default_factory=list)
    error: str = None
    flash: dict = None  # operations, erases, writes during this boot
    seconds: float = 0.0

    @property
    def reset_cause_name(self):
        return CAUSE_NAMES.get(self.reset_cause, str(self.reset_cause))

    @property
    def text(self):
        return "\n".join(self.output)

    def to_dict(self):
        d = asdict(self)
        d["reset_cause_name"] = self.reset_cause_name
        return d


class _EchoLog:
    """The bootloader's log: kept in the record and echoed as each decision is made."""

    def __init__(self, lines, echo):
        self.lines = lines
        self.echo = echo

    def append(self, line):
        self.lines.append(line)
        self.echo("boot: " + line)


class Board:
    def __init__(self, flash, board="esp32-4mb", runtime=None, unique_id=DEFAULT_UNIQUE_ID, run_timeout=20.0,
                 echo=None, services=None, faults=None, heap=None):
        """`flash`: a NorFlash or the path of a flash image file (kept up to date as it runs).
        `runtime`: a MicroPython runtime to share (the caller closes it), or the name of the one
        to start ("unix" or "wasm", emulator/runtimes.py; None: the default).
        `heap`: the interpreter's fixed heap in bytes on the unix port (a MemoryError when it is
        full, as on a board; None: the runtime's own); the WebAssembly port's heap has no limit.
        `faults`: {app version: "panic" or "hang"}, a test hook standing in for native code
        that cannot run here: an image whose app descriptor has that version crashes or hangs
        as soon as it boots, before boot.py."""
        self.board = board if isinstance(board, boards.Board) else boards.load_board(board)
        if isinstance(flash, NorFlash):
            self.flash, self._owns_flash = flash, False
        else:
            _check_flash_file(Path(flash), self.board)
            self.flash, self._owns_flash = NorFlash(path=flash), True
        if self.flash.size != self.board.flash_size:
            raise MpbootError("flash image is %d bytes but board %s has %d bytes of flash"
                              % (self.flash.size, self.board.name, self.board.flash_size))
        self.runtime = None if isinstance(runtime, str) else runtime
        self.runtime_name = runtime if isinstance(runtime, str) else None  # what to start, given none
        self._owns_runtime = self.runtime is None
        self.heap = heap
        self.unique_id = unique_id
        self.run_timeout = run_timeout
        self.echo = echo
        self.services = services or {}
        self.faults = faults or {}
        self.records = []
        self._next_cause = PWRON_RESET
        self._soft = None  # the bootloader's choice, while MicroPython soft-reboots
        # The REPL's mode (pyexec_mode_kind) outlives a soft reset, and in raw mode a soft reset
        # runs boot.py but not main.py (ports/esp32/main.c). A hard reset starts friendly.
        self.raw_repl = False
        # The board's modules per runtime: mpylib/ for the WebAssembly port; for the unix port
        # without WASM_ONLY, and with mpylib/unix/ over it.
        wasm = {p.stem: p.read_bytes() for p in sorted(MPYLIB.glob("*.py"))}
        unix = {name: source for name, source in wasm.items() if name not in WASM_ONLY}
        unix.update((p.stem, p.read_bytes()) for p in sorted(MPYLIB.glob("unix/*.py")))
        self._modules = {"wasm": wasm, "unix": unix}
        self._vfs_cache = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._owns_runtime and self.runtime is not None:
            self.runtime.close()
            self.runtime = None
        if self._owns_flash:
            self.flash.close()

    @property
    def next_boot(self):
        """(kind, reset cause) the next boot() will have."""
        return ("soft" if self._soft else "hard"), self._next_cause

    def reset(self, cause):
        """The chip resets (a reset line, the ROM loader's reboot): the next boot goes through the
        bootloader with reset cause `cause`."""
        self._soft = None
        self._next_cause = cause

    def run(self, boots=1):
        return [self.boot() for _ in range(boots)]

    def boot(self, repl=None):
        """One boot. `repl`: code to run at the REPL once main.py has ended, in the same
        interpreter and session (what `mpremote exec` does on a board); or a console,
        `repl(mp, handler)`, that drives the interpreter's REPL itself and returns how that
        ended (a RunResult; `exit` set: a soft reset), as emulator/console.py does."""
        start, ops_before = time.monotonic(), self.flash.op_count
        record = BootRecord(len(self.records), "soft" if self._soft else "hard", self._next_cause)
        session = choice = None
        if not self._soft:
            self.raw_repl = False
        try:
            choice = self._soft or bootloader.run(self.flash, self.board.chip_id, _EchoLog(record.bootloader, self._echo))
            if choice.outcome != "app":
                record.outcome = choice.outcome
            else:
                record.slot = choice.partition.name
                image = choice.image
                record.app = dict(version=image.version, secure_version=image.secure_version,
                                  project_name=image.project_name)
                if image.version in self.faults:
                    record.outcome, record.error = self.faults[image.version], "test hook: faults[%r]" % image.version
                else:
                    session = self._run_app(record, choice, repl)
        except PowerCut as e:
            record.outcome, record.error = "power_cut", str(e)
        if record.outcome == "power_cut":
            self.flash.cut = None  # the plan fired; the next boot runs with the power on
        self._next_cause = self._cause_after(record, session)
        self._soft = choice if record.outcome == "soft_reboot" else None
        kinds = [op[1] for op in self.flash.ops[ops_before:]]
        record.flash = dict(operations=len(kinds), erases=kinds.count("erase"), writes=kinds.count("write"))
        record.seconds = time.monotonic() - start
        self.records.append(record)
        return record

    def _cause_after(self, record, session):
        if record.outcome == "soft_reboot":
            return record.reset_cause
        if record.outcome in NEXT_CAUSE:
            return NEXT_CAUSE[record.outcome]
        return WDT_RESET if session is not None and session.wdt_timeout is not None else PWRON_RESET

    def _run_app(self, record, choice, repl=None):
        # flashbdev.py: Partition.find(TYPE_DATA, label="vfs")
        vfs = [p for p in choice.partitions if p.type == pt.TYPE_DATA and p.name == boards.VFS_PARTITION]
        if not vfs:
            raise MpbootError("the partition table has no %r data partition for MicroPython's filesystem"
                              % boards.VFS_PARTITION)
        mp = self._interpreter()
        if runtimes.mounts_flash(mp):
            session = AppSession(self.flash, self.board.chip_id, choice.partitions, choice.partition,
                                 services=self.services)
            try:
                rom = sum(p.size for p in choice.partitions if p.type == pt.TYPE_DATA and p.name == boards.ROMFS_PARTITION)
                if self._start(mp, record, session, MOUNT_FLASH, {FLASH_COPY: bytes(self.flash.mem)}, rom):
                    self._run_boot(mp, record, session, repl)
            finally:
                if self.flash.mirror is not None:
                    os.close(self.flash.mirror)
                    self.flash.mirror = None
            return session
        volume = Volume(self.flash, vfs[0], self._vfs_cache)
        session = AppSession(self.flash, self.board.chip_id, choice.partitions, choice.partition, volume,
                             self.services)
        try:
            state = volume.open()
        except LittleFSError as e:
            # inisetup.setup on a partition too small for a filesystem: _boot.py raises, and with
            # nothing mounted there is no boot.py or main.py to run.
            record.outcome, record.error = "exception", unusable(vfs[0], e)
            return session
        if state == "corrupt":
            # inisetup.check_bootsec: a filesystem it cannot mount and will not format.
            record.outcome, record.error = "hang", CORRUPT
            return session
        if state == "formatted":
            self._print(record, "Performing initial setup")
        try:
            dirs, files = volume.contents()
            mount = COPY_IN % dict(dirs=[ROOT] + [ROOT + d for d in dirs], root=ROOT)
            if self._start(mp, record, session, mount, {ROOT + path: data for path, data in files.items()}):
                self._run_boot(mp, record, session, repl)
        finally:
            volume.persist()
        return session

    def _run_boot(self, mp, record, session, repl):
        """boot.py and main.py, then `repl` if given (see boot())."""
        result = mp.run(MAIN % (not self.raw_repl), handler=session.handle, timeout=self.run_timeout,
                        echo=self.echo)
        if self._stopped(record, session, result):
            return
        if not (result.ok and session.status):
            raise MpbootError("emulator fault: the boot runner failed: %s" % result.exc)
        record.outcome = session.status
        if repl is not None and record.outcome in ("ok", "exception"):
            # The board sits at the REPL: run the code there, as mpremote exec does.
            if callable(repl):
                result = repl(mp, session.handle)
            else:
                result = mp.run(repl, handler=session.handle, timeout=self.run_timeout, echo=self.echo)
            if not self._stopped(record, session, result):
                if result.exit:
                    record.outcome = "soft_reboot"
                elif not result.ok:
                    record.outcome, record.error = "exception", result.exc

    def _stopped(self, record, session, result):
        """Record a run's output; True (outcome set) when it hung or was halted."""
        record.output += result.output
        if result.timed_out:
            record.outcome = "hang"
        elif result.halted:
            record.outcome = session.halt
            if session.power_cut is not None:
                record.error = str(session.power_cut)
            elif session.halt == "panic":
                record.error = session.panic
            else:
                record.error = session.error
        return result.timed_out or result.halted

    def _interpreter(self):
        if self.runtime is None:
            self.runtime = runtimes.new_runtime(self.runtime_name)
        return self.runtime

    def _start(self, mp, record, session, mount, files=None, mapped=0):
        """A fresh interpreter with the board's modules, `files` in its own filesystem, and the
        board's filesystem mounted by `mount`; False when the boot ended there (the outcome is
        set: a power cut while formatting, a filesystem that cannot be used). `mapped`: the bytes
        of flash a board memory-maps (the ROMFS partition), which this interpreter holds in its
        heap instead: a fixed heap is enlarged by them (_emu.mount_romfs)."""
        if self.heap is not None and not runtimes.mounts_flash(mp):
            raise MpbootError("a fixed heap needs the unix runtime: the WebAssembly port's heap has no limit")
        mp.boot(heap=None if self.heap is None else self.heap + mapped)
        for path, data in (files or {}).items():
            mp.put_file(path, data)
        modules = self._modules["unix" if runtimes.mounts_flash(mp) else "wasm"]
        for name, source in modules.items():
            mp.put_file("/_emu/%s.py" % name, source)
        if files and FLASH_COPY in files:
            self.flash.mirror = os.open(os.path.join(mp.root, FLASH_COPY.lstrip("/")), os.O_WRONLY)
        setup = SETUP % dict(modules=list(modules), cause=record.reset_cause, uid=self.unique_id,
                             wake=4 if record.reset_cause == DEEPSLEEP_RESET else 0, mount=mount)
        result = mp.run(setup, handler=session.handle, timeout=self.run_timeout, echo=self.echo)
        if self._stopped(record, session, result):
            return False
        if not result.ok:
            raise MpbootError("emulator fault: board setup failed: %s" % result.exc)
        return True

    def _print(self, record, line):
        record.output.append(line)
        self._echo(line)

    def _echo(self, line):
        if self.echo:
            self.echo(line)


def _check_flash_file(path, board):
    """A flash image file the board can run: there, a file, and exactly the board's flash size."""
    if not path.exists():
        raise MpbootError("flash image not found: %s (make one with `mpboot flash-image`)" % path)
    if not path.is_file():
        raise MpbootError("flash image is a directory: %s (give the whole-flash image file)" % path)
    size = path.stat().st_size
    if size != board.flash_size:
        raise MpbootError("flash image %s is %d bytes but board %s has %d bytes of flash: give a whole-flash "
                          "image for this board (mpboot flash-image --board %s)"
                          % (path, size, board.name, board.flash_size, board.name))
