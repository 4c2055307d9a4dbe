"""A board with native USB (ESP32-S3/C3) in front of the emulated board's serial console: a pty
of its own, reached through a symlink as /dev/serial/by-id/... is, that goes away at each hard
boot of the board and comes back `gap` seconds later as a new pty. A client of the old one
sees it hang up, as a USB device that re-enumerates; what the board prints meanwhile is lost,
as a native USB port drops output while no host has it open."""

import os
import re
import select
import threading
import time
import tty
from pathlib import Path

HARD_BOOT = re.compile(rb"=== boot \d+ \(hard")  # what the console prints as the board powers up


class ReenumeratingPort:
    def __init__(self, board_port, link, gap=1.0):
        self.board = os.open(board_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.board)
        self.link, self.gap = Path(link), gap
        self.enumerations = 0
        self.heard = time.monotonic()  # when the board last printed
        self.master = self._slave = None
        self._back_at = None
        self._stop = threading.Event()
        self._appear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def wait_quiet(self, seconds=1.5, timeout=60):
        """Until the port is there and the board has printed nothing for `seconds` (at its REPL)."""
        deadline = time.monotonic() + timeout
        while self.master is None or time.monotonic() - self.heard < seconds:
            assert time.monotonic() < deadline, "the board never went quiet"
            time.sleep(0.05)

    def _appear(self):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # held open: the master stays usable while no client has the port
        os.set_blocking(self.master, False)
        tmp = self.link.with_name(".%s.new" % self.link.name)
        os.symlink(os.ttyname(self._slave), tmp)
        os.replace(tmp, self.link)
        self.enumerations += 1

    def _vanish(self):
        self.link.unlink()
        os.close(self.master)
        os.close(self._slave)
        self.master = self._slave = None
        self._back_at = time.monotonic() + self.gap

    def _run(self):
        window = b""
        while not self._stop.is_set():
            if self.master is None and time.monotonic() >= self._back_at:
                self._appear()
            fds = [self.board] + ([self.master] if self.master is not None else [])
            ready = select.select(fds, [], [], 0.05)[0]
            if self.board in ready:
                data = os.read(self.board, 65536)
                self.heard = time.monotonic()
                window += data
                boot = HARD_BOOT.search(window)
                if boot:  # what came before the reset still reaches the host
                    self._forward(data[:max(0, len(data) - (len(window) - boot.start()))])
                    window = b""
                    if self.master is not None:
                        self._vanish()
                    continue
                window = window[-32:]  # a marker split across reads
                self._forward(data)
            if self.master is not None and self.master in ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # no client has the port open
                    data = b""
                if data:
                    os.write(self.board, data)

    def _forward(self, data):
        if self.master is not None and data:
            try:
                os.write(self.master, data)
            except BlockingIOError:
                pass  # nobody reads: lost, as on the USB port

    def close(self):
        self._stop.set()
        self._thread.join(5)
        if self.master is not None:
            self._vanish()
        os.close(self.board)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
