"""`make demo`, the over-the-air chapter: the device built by mpboot.demo's story (running 2.0.0)
updates itself from a TUF repository served over HTTPS, then refuses a rollback attack and an
expired timestamp. Called by mpboot.demo after its own chapters, in the same directory."""

import time
from pathlib import Path

from mpboot import boards, demo, serve, tls
from mpboot.emulator.flash import NorFlash
from mpboot.emulator.partition import FlashPartition
from mpboot.emulator.vfs import mount
from mpboot.otaprovision import ota_files
from mpboot_fw import statelog

BOARD = boards.load_board("esp32-4mb")
MAIN = """\
from mpboot_fw import updater
print('hello from the application; checking for updates')
try:
    print('update check:', updater.check())
except updater.UpdateError as e:
    print('update check failed:', e.code, e.reason, e.detail)
s = updater.status()
print('updates:', 'ok' if s['ok'] else 'NOT OK %r' % s, '- failed checks since the last good one:', s['failures'])
"""


def story():
    demo.step("7. Over-the-air updates", "A TUF repository adopts the device's root of trust; the release key\n"
              "signs the targets metadata as it signs the images (and, in this small setup, the timestamp and\n"
              "snapshot too: production keeps those online keys apart). The development server serves it\n"
              "over HTTPS with its own CA, which the device is given along with the repository URL.")
    demo.mpboot("repo init repo --root root.json --targets-key release.pem")
    demo.mpboot("publish repo app-v2.mpb --channel stable")
    dev_tls = tls.ensure_dev_tls("tls")
    with serve.start_server(Path("repo"), ssl_context=tls.server_context(dev_tls), log=_quiet) as server:
        print("\n$ mpboot serve repo --tls-dir tls --port %d    (in the background)" % server.port)
        url = "https://localhost:%d/" % server.port
        files = ota_files(url, dev_tls.ca_cert)
        files["/main.py"] = MAIN.encode()
        copy_to_device("flash.bin", files)
        print("\n(copied onto the device, as `mpremote fs cp` would over its serial console: the CA,\n"
              " /mpboot-ota.json = %s,\n and a main.py that checks for updates when the application starts)"
              % files["/mpboot-ota.json"].decode())
        before_v3 = Path("repo/metadata/timestamp.json").read_bytes()

        demo.step("8. Publish 3.0.0; the device updates itself", "The device checks, downloads 3.0.0 straight\n"
                  "into its inactive slot (hashed against the signed metadata as it arrives), verifies it in\n"
                  "flash and resets into a trial boot; the boot stage verifies it again, runs the health\n"
                  "check and confirms it. The next check finds nothing newer.")
        demo.mpboot("publish repo app-v3.mpb --channel stable")
        demo.mpboot("emulate flash.bin --net --boots 3")
        expect_events(["ota-download", "installed", "verified", "confirmed", "ota-current"],
                      "the update to 3.0.0 did not complete")
        if device_state()[0] != 3:
            raise demo.DemoFailed("the security floor is not 3 after the update")

        demo.step("9. Attacks on the update path", "A rollback: whoever sits between the device and the\n"
                  "server replays the timestamp from before 3.0.0 (correctly signed, but older than the one\n"
                  "the device trusts). Then a freeze: the repository stops being re-signed (a dead or\n"
                  "withheld mirror) and its timestamp expires. The device refuses both, stays on 3.0.0,\n"
                  "logs why and counts the failed checks; once none has succeeded for stale_after (2 days\n"
                  "by default) or its trusted metadata expires, updater.status() reports a freeze.")
        current = Path("repo/metadata/timestamp.json").read_bytes()
        Path("repo/metadata/timestamp.json").write_bytes(before_v3)
        print("\n(repo/metadata/timestamp.json replaced by the one from before 3.0.0 was published)")
        demo.mpboot("emulate flash.bin --net")
        expect_events(["ota-refused"], "the replayed timestamp was not refused", reason="Rollback")
        Path("repo/metadata/timestamp.json").write_bytes(current)
        demo.mpboot("repo timestamp repo --expires 2s")
        print("\n(nobody re-signs it now; 3 seconds later it has expired)")
        time.sleep(3)
        demo.mpboot("emulate flash.bin --net")
        expect_events(["ota-refused"], "the expired timestamp was not refused", reason="Expired")

    demo.step("10. The device's log, with the updates", "Downloads, installs, the trial boot, and each refusal.")
    demo.mpboot("log flash.bin")


def copy_to_device(flash_path, files):
    """Write `files` ({"/path": bytes}) into the LittleFS filesystem of a whole-flash image."""
    part = BOARD.partition(boards.VFS_PARTITION)
    with open(flash_path, "r+b") as f:
        f.seek(part.offset)
        data = bytearray(f.read(part.size))
        fs = mount(data)
        for path, content in files.items():
            with fs.open(path, "wb") as out:
                out.write(content)
        fs.unmount()
        f.seek(part.offset)
        f.write(data)


def device_state(flash_path="flash.bin", bundles=False):
    """(security floor, events) of the device in `flash_path`; with `bundles`, its bundle floors
    (state.bundle_floors()) instead of the security floor."""
    flash = NorFlash(path=flash_path)
    try:
        part = BOARD.partition(boards.STATE_PARTITION)
        state = statelog.load(FlashPartition(flash, part.offset, part.size))
        return state.bundle_floors() if bundles else state.floor, list(state.events())
    finally:
        flash.close()


def expect_events(codes, failure, reason=None):
    """The device's latest updater/boot events end with `codes` (and the last has `reason`)."""
    events = [e for e in device_state()[1] if e[1] != "ota-stale"]
    got = [e[1] for e in events[-len(codes):]]
    if got != codes or (reason is not None and events[-1][2] != reason):
        raise demo.DemoFailed("%s: the device logged %s" % (failure, events[-len(codes):]))


def _quiet(line):
    pass

