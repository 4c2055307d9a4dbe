"""The emulated ESP32's heap on the unix port: the 64-bit factor measured again (the steps and
why they are those: tests/heapfactor.py), and the heap it gives enforced."""

import heapfactor
from mpboot.mpy import unixport


def test_the_64_bit_factor_is_the_measured_one(micropython, micropython_unix):
    wasm = heapfactor.measure(micropython)
    unix = heapfactor.measure(micropython_unix)
    print("wasm", wasm)
    print("unix", unix)
    factor = heapfactor.factor(wasm, unix)
    assert abs(factor - unixport.HEAP_FACTOR_64) < 0.03, (factor, wasm, unix)
    # every step grows by about the same factor: it is the objects, not one step's quirk
    for step, _ in heapfactor.STEPS:
        assert 1.2 < unix[step] / wasm[step] < 1.45, (step, wasm, unix)


def test_board_heap_is_the_esp32_heap_times_the_factor():
    assert unixport.ESP32_HEAP == 112 * 1024
    heap = unixport.board_heap()
    assert heap % 1024 == 0 and 0 <= unixport.ESP32_HEAP * unixport.HEAP_FACTOR_64 - heap < 1024


def test_the_board_heap_is_enforced(micropython_unix):
    mp = micropython_unix
    heap = unixport.board_heap()
    mp.boot(heap=heap)
    r = mp.run("import gc\ngc.collect()\nprint(gc.mem_alloc() + gc.mem_free())\nx = bytearray(%d)" % heap)
    assert not r.ok and r.exc.splitlines()[-1].startswith("MemoryError"), r.exc
    assert int(r.output[0]) <= heap
