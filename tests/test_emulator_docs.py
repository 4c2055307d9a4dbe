"""The Python examples in docs/emulator.md run as written (with a real MicroPython download)."""

import re
from pathlib import Path

from realfirmware import micropython_firmware

DOC = Path(__file__).resolve().parents[1] / "docs" / "emulator.md"


def test_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2
    namespace = {"FIRMWARE": str(micropython_firmware())}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert namespace["second"].reset_cause_name == "SOFT_RESET"
