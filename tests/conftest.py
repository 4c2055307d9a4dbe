import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Device tests import their helpers as top-level modules, as they do on MicroPython.
sys.path.insert(0, str(ROOT / "tests" / "device"))


@pytest.fixture(scope="session")
def micropython():
    """A MicroPython runtime (one Node process); call .run_fresh(code) for a fresh interpreter."""
    from mpboot.mpy.runtime import MicroPython

    with MicroPython() as mp:
        yield mp
