"""Progress of long operations (an install over a serial port, provisioning, long emulations),
for a person at a terminal: a rich progress bar on stderr, and only when stderr is a terminal
and neither --quiet nor --json was given. stdout stays what the command prints, for pipes and
--json; with the bar shown, what goes to stdout meanwhile is printed above it.

Library code reports through a plain callable, so it needs no rich and no terminal:

    def install(..., progress=progress.SILENT):
        progress("sending app.mpb", done, total)       # one step; a new text starts the next
        progress("trial boot")                         # a step of unknown length

and a command gets one from the arguments it was given:

    with progress.shown(args) as report:
        serialinstall.install(port, image, progress=report)
"""

import contextlib
import os
import sys

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text


def SILENT(step, done=0, total=None, unit="B"):
    """A progress callback that shows nothing."""


def add_option(parser):
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar (it is shown on stderr only when that is a terminal)")


def wanted(args):
    """A bar for these arguments: stderr is a terminal, and no --quiet or --json."""
    if getattr(args, "quiet", False) or getattr(args, "json", False):
        return False
    return sys.stderr.isatty()


@contextlib.contextmanager
def shown(args):
    """A progress callback for the command's arguments: a bar on stderr, or SILENT."""
    if not wanted(args):
        yield SILENT
        return
    # force_terminal: the isatty() above decides, not FORCE_COLOR or TTY_COMPATIBLE in the environment.
    console = Console(file=sys.stderr, force_terminal=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), _Amount(), TimeElapsedColumn(),
                   console=console, redirect_stdout=_same_terminal(), redirect_stderr=False)
    with bar:
        steps = _Steps(bar)
        try:
            yield steps
        finally:
            steps.finish()


def _same_terminal():
    """Whether stdout is the terminal stderr is: then rich prints stdout's lines above the bar
    (through stderr: the same screen). Elsewhere (a pipe, a file) stdout is left alone."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return sys.stdout.isatty() and (out.st_dev, out.st_ino, out.st_rdev) == (err.st_dev, err.st_ino, err.st_rdev)


class _Steps:
    """The callback behind a shown bar: one line per step, the finished ones kept."""

    def __init__(self, bar):
        self.bar = bar
        self.step = self.task = None

    def __call__(self, step, done=0, total=None, unit="B"):
        if step != self.step:
            self.finish()
            self.step = step
            self.task = self.bar.add_task(step)
        # no unit: nothing to count (a finished step of unknown length is shown full, not as 1/1)
        self.bar.update(self.task, completed=done, total=total, unit=unit if total is not None else None)

    def finish(self):
        """Show the current step as done (a step of unknown length too)."""
        if self.task is not None:
            task = self.bar.tasks[self.task]
            end = task.total if task.total else max(task.completed, 1)
            self.bar.update(self.task, total=end, completed=end)
            self.bar.stop_task(self.task)
        self.step = self.task = None


class _Amount(ProgressColumn):
    """How far: bytes as 12.3/45.6 kB, other units as 2/3 boots; nothing for an unknown total."""

    def render(self, task):
        unit = task.fields.get("unit")
        if unit is None:
            return Text("")
        if unit == "B":
            return Text("%s/%s" % (decimal(int(task.completed)), decimal(int(task.total))), style="progress.download")
        return Text("%d/%d %s" % (task.completed, task.total, unit), style="progress.download")
