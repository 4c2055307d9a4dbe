"""Helpers for device tests: this directory's test modules run unchanged on CPython (pytest
collects them) and on MicroPython (tests/test_device_on_micropython.py runs every test_*
function on both real ports, WebAssembly and unix). Use only what all of them have."""

import sys

ON_MICROPYTHON = sys.implementation.name == "micropython"


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised nothing or something else."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc_type.__name__))


def data_path(name):
    """Path of a file in tests/device/data on either runtime."""
    if ON_MICROPYTHON:
        return "/tests/data/" + name
    import os

    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", name)
