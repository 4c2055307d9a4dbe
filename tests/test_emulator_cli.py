"""`mpboot emulate` end to end: text and JSON boot logs, power cuts, bad input."""

import json

import pytest

from emuboard import new_flash
from mpboot.cli import main as cli
from mpboot.espidf import partition_table as pt

MAIN = ("import esp32, machine\nprint('cause', machine.reset_cause())\n"
        "esp32.Partition('mpboot').writeblocks(0, b'x' * 4096)\n"
        "if machine.reset_cause() == machine.PWRON_RESET:\n    machine.reset()\n")


@pytest.fixture
def flash_file(tmp_path):
    path = tmp_path / "flash.bin"
    new_flash({"/main.py": MAIN}, path=path).close()
    return path


def test_text_log(flash_file, capsys):
    assert cli(["emulate", str(flash_file), "--boots", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "=== boot 0 (hard, reset cause PWRON_RESET) ==="
    assert "boot: otadata[0] is active: seq=1 -> ota_0" in out
    assert "cause 1" in out and "cause 5" in out
    assert any(line.startswith("--- outcome: reset; flash: 2 operations (1 erases, 1 writes); ") for line in out)
    assert out[-1].startswith("flash totals: 4 operations, 2 erases, 2 writes, 0 faults")


def test_json_log_and_the_file_keeps_the_state(flash_file, capsys):
    assert cli(["emulate", str(flash_file), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["board"] == "esp32-4mb"
    boot, = first["boots"]
    assert (boot["outcome"], boot["reset_cause_name"], boot["slot"]) == ("reset", "PWRON_RESET", "ota_0")
    assert boot["app"] == {"version": "1.0.0", "secure_version": 0, "project_name": "mpboot-test"}
    assert boot["output"] == ["cause 1"]
    # The file is the board's flash: what boot 0 wrote is there for the next run.
    assert flash_file.read_bytes()[0x3F0000:0x3F0004] == b"xxxx"


def test_cut_at(flash_file, capsys):
    assert cli(["emulate", str(flash_file), "--boots", "2", "--cut-at", "1", "--cut-mode", "torn", "--json"]) == 0
    cut, after = json.loads(capsys.readouterr().out)["boots"]
    assert cut["outcome"] == "power_cut" and "torn flash operation 1" in cut["error"]
    assert after["reset_cause_name"] == "PWRON_RESET" and after["outcome"] == "reset"
    assert flash_file.read_bytes()[0x3F0000:0x3F0004] == b"xxxx"  # boot 1 wrote the block again


@pytest.mark.parametrize("args,message", [
    (["missing.bin"], "not found"),
    (["flash.bin", "--boots", "0"], "--boots"),
    (["flash.bin", "--cut-at", "-1"], "--cut-at"),
    (["small.bin"], "matches no board"),
    (["small.bin", "--board", "esp32-4mb"], "small.bin is 8192 bytes but board esp32-4mb has 4194304 bytes of flash"),
    (["flash.bin", "--timeout", "0"], "--timeout must be more than 0 seconds"),
    (["sub", "--board", "esp32-4mb"], "flash image is a directory"),
])
def test_bad_input(tmp_path, flash_file, capsys, args, message):
    (tmp_path / "small.bin").write_bytes(b"\xff" * 8192)
    (tmp_path / "sub").mkdir()
    args = [str(tmp_path / a) if a.endswith(".bin") or a == "sub" else a for a in args]
    assert cli(["emulate"] + args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize("change,message", [
    (dict(offset=0x3FF000), "partition 1 (otadata) at 0x3ff000 size 0x2000 exceeds the 0x400000-byte flash"),
    (dict(size=0x1000), "otadata partition is 0x1000 bytes, less than two sectors"),
])
def test_a_table_the_bootloader_refuses_is_one_line_per_boot(flash_file, capsys, change, message):
    data = bytearray(flash_file.read_bytes())
    parts = [p._replace(**change) if p.name == "otadata" else p for p in pt.from_binary(data[0x8000:0x8C00])]
    data[0x8000:0x8C00] = pt.to_binary(parts)
    flash_file.write_bytes(bytes(data))
    assert cli(["emulate", str(flash_file), "--board", "esp32-4mb", "--boots", "2"]) == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert captured.err == "" and "Traceback" not in captured.out
    boot_lines = [line for line in out if line.startswith("boot: ")]
    assert len(boot_lines) == 2 and all(message in line for line in boot_lines), out
    assert sum(line.startswith("--- outcome: bad_partition_table;") for line in out) == 2


FILE_MAIN = "with open('n.txt', 'a') as f:\n    f.write('x')\nprint(open('n.txt').read())\n"


@pytest.mark.parametrize("runtime", ["unix", "wasm"])
def test_runtime_choice(tmp_path, capsys, runtime):
    # The same boots either way; on the unix port the file's writes are flash operations (its
    # VfsLfs2 on the flash), on the WebAssembly port they are written back outside the count.
    path = tmp_path / "flash.bin"
    new_flash({"/main.py": FILE_MAIN}, path=path).close()
    assert cli(["emulate", str(path), "--boots", "2", "--runtime", runtime, "--json"]) == 0
    boots = json.loads(capsys.readouterr().out)["boots"]
    assert [b["output"] for b in boots] == [["x"], ["xx"]]
    operations = [b["flash"]["operations"] for b in boots]
    assert all(n > 0 for n in operations) if runtime == "unix" else operations == [0, 0]


@pytest.mark.parametrize("runtime", ["unix", "wasm"])
def test_serial_runs_on_either_runtime(flash_file, capsys, runtime):
    # The console drives the REPL of both (the unix port's is unixlib/_repl.py); here the board
    # resets itself, boot after boot, until --stop-after.
    assert cli(["emulate", str(flash_file), "--serial", "--runtime", runtime, "--stop-after", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "serial console of the emulated esp32-4mb: /dev/pts/" in captured.out
    boots = int(captured.out.split("stopped after ")[1].split()[0])
    assert boots >= 2, captured.out


HUNGRY = "import gc\nb = bytearray(%d)\nprint('allocated', len(b))\n"


def test_heap_fixes_the_boards_heap_on_the_unix_port(tmp_path, capsys):
    """--heap: the app's allocation that fits the default heap fails as on a board whose heap
    is smaller (the unix port's MemoryError), and the same flash boots again in a larger one."""
    from emuboard import unix_runtime

    unix_runtime()  # the unix port, or skipped where it has no wheel
    path = tmp_path / "flash.bin"
    new_flash({"/main.py": HUNGRY % (200 * 1024)}, path=path).close()
    assert cli(["emulate", str(path), "--runtime", "unix", "--heap", "160", "--json"]) == 0
    boot, = json.loads(capsys.readouterr().out)["boots"]
    assert boot["outcome"] == "exception" and any("MemoryError" in line for line in boot["output"]), boot
    assert cli(["emulate", str(path), "--runtime", "unix", "--heap", "512", "--json"]) == 0
    boot, = json.loads(capsys.readouterr().out)["boots"]
    assert boot["outcome"] == "ok" and boot["output"] == ["allocated %d" % (200 * 1024)], boot


@pytest.mark.parametrize("args,message", [
    (["--heap", "63"], "--heap must be at least 64 KiB"),
    (["--heap", "200", "--runtime", "wasm"], "a fixed heap needs the unix runtime"),
    (["--heap", "200", "--serial"], "--heap is not taken with the serial console yet"),
])
def test_heap_errors(flash_file, capsys, args, message):
    assert cli(["emulate", str(flash_file)] + args) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
