"""`make demo`, the bundles chapter: a fresh device whose mpboot package is itself a signed
bundle, with the application as a second bundle; the application is updated over the air, and a
broken release is rolled back by its own failed health check. Called by mpboot.demo after the
over-the-air chapters, in the same directory (root.json, release.pem, app-v3.mpb, repo, tls)."""

import json
import shlex
from pathlib import Path

from mpboot import boards, demo, demo_ota, serve, tls
from mpboot.emulator import vfs

FLASH = "flash-bundles.bin"
MAIN = """\
VERSION = %r
print('myapp', VERSION)
from mpboot_fw import updater
try:
    print('update check:', updater.check())
except updater.UpdateError as e:
    print('update check failed:', e.code, e.reason, e.detail)
"""
HEALTH = "def check():\n    # a real app would test its sensors, its network...\n    return %s\n"


def write_app(version, healthy=True):
    """The application directory myapp-VERSION/: main.py (the entry point) and its health check."""
    d = Path("myapp-" + version)
    d.mkdir(exist_ok=True)
    (d / "main.py").write_text(MAIN % version)
    (d / "health.py").write_text(HEALTH % healthy)
    print("\n(%s/main.py prints %s and checks for updates; %s/health.py returns %s)" % (d, version, d, healthy))
    return d


def build(version, healthy=True):
    d = write_app(version, healthy)
    demo.mpboot("bundle %s --name myapp --version %s --security-version 1 --key release.pem --board esp32-4mb "
                "--root root.json -o myapp-%s.mpbundle" % (d, version, version))


def story(firmware):
    demo.step("11. Your application as a signed bundle", "The application is a directory, signed as a\n"
              "bundle (a manifest listing every file's SHA-256, signed by the release key). A fresh device\n"
              "gets mpboot's own package as the bundle `mpboot` (device-files --key signs it) and the app\n"
              "bundle; the boot stage verifies both before anything of them is imported.")
    build("1.0.0")
    dev_tls = tls.ensure_dev_tls("tls")
    with serve.start_server(Path("repo"), ssl_context=tls.server_context(dev_tls), log=demo_ota._quiet) as server:
        print("\n$ mpboot serve repo --tls-dir tls --port %d    (in the background)" % server.port)
        demo.mpboot("device-files --board esp32-4mb --root root.json --key release.pem --health health:check "
                    "--update-url https://localhost:%d/ --tls-dir tls -o device-bundles" % server.port)
        demo.mpboot("flash-image --board esp32-4mb --app app-v3.mpb --firmware %s --root root.json "
                    "--files device-bundles --bundle myapp-1.0.0.mpbundle -o %s" % (shlex.quote(str(firmware)), FLASH))
        # chapter 9 let the repository's timestamp expire: re-sign it, as its cron job would
        demo.mpboot("repo timestamp repo")
        demo.mpboot("emulate %s --net" % FLASH)
        expect("a", "1.0.0", ["ota-current"], "the device did not start myapp 1.0.0")

        demo.step("12. Version 2.0.0 over the air", "Publishing a bundle lists its signed manifest in the\n"
                  "TUF repository and stores each file by its hash. The device's check finds 2.0.0, downloads\n"
                  "only the files that changed into its other copy, verifies it there and resets; the trial\n"
                  "boot runs the health check and confirms it, then the app starts.")
        build("2.0.0")
        demo.mpboot("publish repo myapp-2.0.0.mpbundle --channel stable")
        demo.mpboot("emulate %s --net --boots 3" % FLASH)
        expect("b", "2.0.0", ["ota-bundle", "bundle-installed", "ota-bundle", "bundle-verified",
                              "bundle-confirmed", "ota-current"], "the update to myapp 2.0.0 did not complete")

        demo.step("13. A broken 3.0.0, rolled back", "3.0.0 is correctly signed, but its health check fails:\n"
                  "the trial boot logs why, points back at 2.0.0 (its floor unchanged) and resets into 2.0.0.")
        build("3.0.0", healthy=False)
        demo.mpboot("publish repo myapp-3.0.0.mpbundle --channel stable")
        # Two boots: the install, then the failed trial. The next check would install 3.0.0 again
        # (the updater does not yet remember a bundle release whose trial failed).
        demo.mpboot("emulate %s --net --boots 2" % FLASH)
        expect("b", "2.0.0", ["ota-bundle", "bundle-installed", "ota-bundle", "bundle-verified", "bundle-trial-failed"],
               "the broken myapp 3.0.0 was not rolled back")

    demo.step("14. The device's log, with the bundles", "Each bundle install, trial, confirmation and\n"
              "failure, and each bundle's own security floor.")
    demo.mpboot("log %s" % FLASH)


def expect(copy, version, codes, failure):
    """From the device's own state: myapp's pointer names only `copy` (confirmed, no trial), that
    copy's manifest is `version`, mpboot's package runs from its bundle's copy a, myapp's floor is 1 (mpboot's
    security version is 0: no floor recorded), and the
    latest updater/bundle events end with `codes`."""
    floors, events = demo_ota.device_state(FLASH, bundles=True)
    files = read_files()
    got = (files.get("/bundles/myapp/boot"), files.get("/bundles/mpboot/boot"), floors)
    want = (copy.encode(), b"a", [("myapp", 1)])
    manifest = files.get("/bundles/myapp/%s.mpbm" % copy)
    running = json.loads(manifest)["signed"]["version"] if manifest else None
    events = [e for e in events if e[1].startswith(("ota-", "bundle-")) and e[1] != "ota-stale"]
    if got != want or running != version or [e[1] for e in events[-len(codes):]] != codes:
        raise demo.DemoFailed("%s: pointers and floors %s (expected %s), copy %s runs %s, events %s"
                              % (failure, got, want, copy, running, events[-len(codes):]))


def read_files():
    part = boards.load_board("esp32-4mb").partition(boards.VFS_PARTITION)
    with open(FLASH, "rb") as f:
        f.seek(part.offset)
        fs = vfs.mount(bytearray(f.read(part.size)))
    try:
        return vfs.read_files(fs)[1]
    finally:
        fs.unmount()
