"""Run every test function in tests/device/ on both real MicroPython runtimes.

pytest runs the same modules on CPython directly; here each module is loaded into a fresh
MicroPython interpreter (with the device package at /lib/mpboot_fw, as on a board) and each of
its test_* functions must pass there too: on the WebAssembly port (ids `wasm-...`) and on the
unix port (ids `unix-...`), whose heap is fixed: at its runtime's default of 8 MiB here, as these
test behaviour; board-sized heaps are the memory tests' (test_*_memory.py, test_unix_heap.py).
"""

import ast
from pathlib import Path

import pytest

DEVICE_TESTS = Path(__file__).resolve().parent / "device"

# Device tests write scratch files in /tmp: the WebAssembly port's filesystem has it, the unix
# port's fresh directory gets it here.
SETUP = """
import os, sys
try:
    os.mkdir('/tmp')
except OSError:
    pass
del os
sys.path.append('/tests')
import %(module)s as m
"""

# One run per test function: the WebAssembly port's gc.collect() frees only between runs, so
# running a module's tests in one run would let its garbage pile up (hundreds of MB for the
# crypto tests). The unix port collects inside a run; one boot (process) per module serves both.
CALL = """
try:
    m.%(name)s()
    print('@@PASS')
except Exception as e:
    sys.print_exception(e)
    print('@@FAIL')
"""


def _test_functions(path):
    tree = ast.parse(path.read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


CASES = [
    (path.stem, name)
    for path in sorted(DEVICE_TESTS.glob("test_*.py"))
    for name in _test_functions(path)
]
_results = {}


def _run_module(micropython, module):
    key = (micropython.name, module)
    if key not in _results:
        setup = _fresh_board(micropython, module)
        outcomes = {}
        for m, name in CASES:
            if m != module:
                continue
            if not setup.ok:
                outcomes[name] = (False, setup.output + [setup.exc or "import failed"])
                continue
            result = micropython.run(CALL % {"name": name}, timeout=600)
            lines = result.output
            passed = result.ok and lines[-1:] == ["@@PASS"]
            outcomes[name] = (passed, lines[:-1] + ([] if result.ok else [result.exc or "no result"]))
            if result.timed_out:  # the process was killed; the rest of the module needs a new one
                setup = _fresh_board(micropython, module)
        _results[key] = outcomes
    return _results[key]


def _fresh_board(micropython, module):
    """Boot a fresh interpreter with the device package and tests, and import `module` there."""
    micropython.boot()
    micropython.put_firmware()
    micropython.put_tree(DEVICE_TESTS, "/tests")
    return micropython.run(SETUP % {"module": module}, timeout=300)


@pytest.mark.parametrize("module,name", CASES, ids=["%s::%s" % c for c in CASES])
def test_on_micropython(any_micropython, module, name):
    passed, lines = _run_module(any_micropython, module)[name]
    if not passed:
        pytest.fail("on MicroPython (%s port): %s failed:\n%s" % (any_micropython.name, name, "\n".join(lines) or "no output"),
                    pytrace=False)
