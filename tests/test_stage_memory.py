"""Heap of a manual install and of a boot (trial boot: verify and confirm) on MicroPython: the
issue's target is under 32 KiB above the interpreter's idle use. How it is measured, and why
that way: tests/stagemem.py."""

import stagemem
from mpboot.mpy import unixport

TARGET = 32 * 1024


def test_install_and_boot_fit_32k_and_the_block_loops_allocate_nothing(micropython):
    data = stagemem.image_under_test(size=100000)  # 26 blocks: a per-block allocation would show
    result = stagemem.estimate(micropython, data)
    assert result["install_estimate"] < TARGET and result["boot_estimate"] < TARGET, result
    # The stream copy and the payload hash reuse one 4 KiB buffer: nothing grows per block
    # (the stream loop's 16 bytes are its one slice for the last, short block).
    assert all(growth <= 64 for growth in result["loops"].values()), result["loops"]
    # What stays alive is the context (state log buffer, parsed root) and the 4 KiB buffers.
    assert 4096 < result["install"]["block buffer"] - result["install"]["context loaded"] < 4096 + 512


def test_install_and_boot_run_with_32k_free_on_the_unix_port(micropython_unix):
    # The fixed heap: the same steps with only the budget (in this port's bytes) free after idle
    data = stagemem.image_under_test(size=100000)
    result = stagemem.fixed_heap_run(micropython_unix, data, int(TARGET * unixport.HEAP_FACTOR_64))
    assert result["install"]["failed"] is None and result["boot"]["failed"] is None, result
    # and the heap binds: with 4 KiB free the install cannot take its 4 KiB block buffer
    short = stagemem.fixed_heap_run(micropython_unix, data, 4096)
    assert short["install"]["failed"] and "MemoryError" in short["install"]["failed"][1], short
