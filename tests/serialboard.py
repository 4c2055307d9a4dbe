"""An emulated board served on a pseudo-terminal by `mpboot emulate --serial` (a subprocess that
stops by itself after STOP_AFTER seconds and is terminated at exit), and the real mpremote run
against it as a user would run it."""

import os
import subprocess
import sys
import time
from pathlib import Path

STOP_AFTER = 240
COMMAND_TIMEOUT = 60


class SerialBoard:
    def __init__(self, flash, tmp, timeout=10.0, runtime=None):
        """`runtime`: "unix" or "wasm" (--runtime), None for the default (unix where installed)."""
        self.flash = Path(flash)
        self.link = Path(tmp) / "ttyEMU"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mpboot", "emulate", str(flash), "--serial", "--serial-link", str(self.link),
             "--stop-after", str(STOP_AFTER), "--timeout", str(timeout)] + (["--runtime", runtime] if runtime else []),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not self.link.is_symlink():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                code, output = self.stop()  # stop() has read and closed the pipes
                raise AssertionError("the serial board did not start (exit %s): %s" % (code, output))
            time.sleep(0.05)
        # mpremote reads a /dev/pts/N path without polling (it recognises a pty by its name)
        self.port = os.path.realpath(self.link)

    def mpremote(self, *args, check=True, timeout=COMMAND_TIMEOUT):
        r = subprocess.run([sys.executable, "-m", "mpremote", "connect", self.port, *map(str, args)],
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def reset(self, settle=2.0):
        """`mpremote reset`, then `settle` seconds for the board to get there: mpremote's reset
        runs `time.sleep_ms(100); machine.reset()` and leaves without waiting, and the next
        mpremote's first move is Ctrl-C, which interrupts that sleep (on the unix port, as on a
        board) if it comes sooner, so the reset never happens."""
        r = self.mpremote("reset")
        time.sleep(settle)
        return r

    def stop(self):
        """SIGTERM, as Ctrl-C would: the board ends its boot (the filesystem goes to flash) and
        the command exits 0. Returns (exit status, stdout)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out + err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
