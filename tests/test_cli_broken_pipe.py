"""A reader that closes the pipe early (`mpboot inspect --json X | head -1`) ends the command
quietly: no BrokenPipeError traceback on stderr, and exit status 1 (the output was cut)."""

import os
import subprocess
import sys

import pytest

from mpboot.fixtures import micropython_firmware


def _run_into_closed_pipe(*argv):
    # The reader is gone before the command writes: its first write fails with EPIPE, which
    # is what `| head -1` does to every write after the first line.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "mpboot", *argv], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", [("inspect", "--json"), ("inspect",)], ids=["json", "text"])
def test_inspect_into_a_closed_pipe_prints_no_traceback(argv):
    proc = _run_into_closed_pipe(*argv, str(micropython_firmware()))
    assert "BrokenPipeError" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
