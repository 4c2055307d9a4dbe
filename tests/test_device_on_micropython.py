"""Run every test function in tests/device/ on the real MicroPython runtime.

pytest runs the same modules on CPython directly; here each module is loaded into a fresh
MicroPython interpreter (with the device package at /lib/mpboot_fw, as on a board) and each of
its test_* functions must pass there too.
"""

import ast
from pathlib import Path

import pytest

DEVICE_TESTS = Path(__file__).resolve().parent / "device"

RUNNER = """
import sys, gc
sys.path.append('/tests')
import %(module)s as m
for name in %(names)r:
    gc.collect()
    try:
        getattr(m, name)()
        print('@@PASS', name)
    except Exception as e:
        sys.print_exception(e)
        print('@@FAIL', name)
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
    if module not in _results:
        micropython.boot()
        micropython.put_firmware()
        micropython.put_tree(DEVICE_TESTS, "/tests")
        names = [n for m, n in CASES if m == module]
        result = micropython.run(RUNNER % {"module": module, "names": names}, timeout=1200)
        _results[module] = result
    return _results[module]


@pytest.mark.parametrize("module,name", CASES, ids=["%s::%s" % c for c in CASES])
def test_on_micropython(micropython, module, name):
    result = _run_module(micropython, module)
    lines = result.output
    if "@@PASS " + name in lines:
        return
    # Show this test's own output: from the previous marker to its FAIL marker.
    end = lines.index("@@FAIL " + name) if "@@FAIL " + name in lines else len(lines)
    start = max([i for i in range(end) if lines[i].startswith("@@")] + [-1]) + 1
    detail = "\n".join(lines[start:end]) or result.exc or "no output"
    pytest.fail("on MicroPython: %s failed:\n%s" % (name, detail), pytrace=False)
