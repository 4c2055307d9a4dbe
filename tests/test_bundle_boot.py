"""Bundles at boot on the emulated board, real MicroPython (docs/loader.md): the application
bundle updated by hand and its trial (confirmed, or rolled back by its health check, an import
error or a reset mid-trial), mpboot's own package updated as a bundle and a broken copy of it
rolled back by the fixed loader, a tampered copy never imported, bundles that no longer fit
the firmware held back, and the firmware and bundle trials kept apart. Every verdict is read
from the device's own state log and pointers; what ran, from the application's own output."""

import pytest

from bootstage import BOARD, RELEASE, TRUSTED, board, events, signed, state
from bundleboard import (app_bundle, app_version, bundle_events, install, package_bundle, pointer, provisioned,
                         read_file, settle, tool_bundle, write_file)
from emuboard import board_runtime
from mpboot import bundle as hostbundle, manualinstall


@pytest.fixture
def runtime():
    return board_runtime()


def booted(runtime, **kw):
    """A provisioned board after its first boot: the application v1.0.0 ran."""
    b = board(provisioned(**kw), runtime)
    record = b.boot()
    assert record.outcome == "ok" and app_version(record) == "1.0.0", record.text
    return b


def update(b, data):
    """Install `data` at the REPL, then boot until the board sits in the REPL again."""
    since = state(b.flash).boot_count
    record = install(b, data)
    assert [ln for ln in record.output if ln.startswith("INSTALLED")], record.text
    return since, settle(b)


def test_an_app_bundle_updated_by_hand_runs_after_its_trial(runtime):
    b = booted(runtime)
    assert state(b.flash).bundle_floor("app") == 1  # the normal boot set the floor of the copy provisioned
    since, records = update(b, app_bundle("2.0.0", 2))
    # The trial: verified, health check under the watchdog, confirmed; then a boot without it.
    assert [(r.outcome, app_version(r)) for r in records] == [("reset", None), ("ok", "2.0.0")]
    assert bundle_events(b.flash, since) == [("bundle-installed", "", "app 2.0.0 b"),
                                             ("bundle-verified", "", "app 2.0.0 b"),
                                             ("bundle-confirmed", "", "app 2.0.0 b")]
    assert pointer(b.flash, "app") == "b" and state(b.flash).bundle_floor("app") == 2
    again = b.boot()
    assert app_version(again) == "2.0.0" and bundle_events(b.flash, since + 3) == []


def test_without_a_health_check_the_trial_goes_on_to_the_app(runtime):
    b = booted(runtime, health=False)
    since, records = update(b, app_bundle("2.0.0", 2))
    assert [(r.outcome, app_version(r)) for r in records] == [("ok", "2.0.0")]
    assert [e[0] for e in bundle_events(b.flash, since)] == ["bundle-installed", "bundle-verified", "bundle-confirmed"]


TRIAL_FAILURES = {
    # the new version's behaviour: (what its trial logs after bundle-verified, how that boot ends)
    "health-failed": (dict(health="fail"), [("bundle-trial-failed", "health-failed", "app 2.0.0 b")], "reset"),
    "health-error": (dict(health="raise"), [("bundle-trial-failed", "health-error", "app 2.0.0 b")], "reset"),
    "import-error": (dict(imports="raise"), [("bundle-trial-failed", "import-error", "app 2.0.0 b")], "reset"),
    # the watchdog resets the board mid-trial: the next boot finds "a b try" it did not write
    "reset-mid-trial": (dict(health="hang"), [("bundle-rolled-back", "not-confirmed", "app b")], "hang"),
}


@pytest.mark.parametrize("case", sorted(TRIAL_FAILURES))
def test_a_failed_app_trial_rolls_back_to_the_previous_copy(runtime, case):
    kw, logged, outcome = TRIAL_FAILURES[case]
    b = booted(runtime)
    b.run_timeout = 3.0  # the hang: stopped there, then a power cycle
    since, records = update(b, app_bundle("2.0.0", 2, **kw))
    assert [(r.outcome, app_version(r)) for r in records] == [(outcome, None), ("ok", "1.0.0")], records[-1].text
    assert bundle_events(b.flash, since) == [("bundle-installed", "", "app 2.0.0 b"),
                                             ("bundle-verified", "", "app 2.0.0 b")] + logged
    assert pointer(b.flash, "app") == "a" and state(b.flash).bundle_floor("app") == 1  # floor not raised
    assert read_file(b.flash, "/bundles/app/b.mpbm") is None  # never switched to: it cannot verify
    if case == "health-failed":
        # The next install writes copy b again, and its trial runs as any other.
        _, records = update(b, app_bundle("2.0.1", 2))
        assert app_version(records[-1]) == "2.0.1" and pointer(b.flash, "app") == "b"


def test_a_tampered_file_in_the_active_copy_is_never_imported_the_other_copy_runs(runtime):
    b = booted(runtime)
    update(b, app_bundle("2.0.0", 1))
    good = read_file(b.flash, "/bundles/app/b/app.py").encode()
    evil = b'print("TAMPERED")\n'
    write_file(b.flash, "/bundles/app/b/app.py", evil + b"#" * (len(good) - len(evil) - 1) + b"\n")
    since = state(b.flash).boot_count
    record = b.boot()
    assert app_version(record) == "1.0.0" and "TAMPERED" not in record.text
    assert bundle_events(b.flash, since) == [("bundle-switched", "file-hash", "app a")]
    assert pointer(b.flash, "app") == "a"


def test_a_tampered_only_copy_holds_the_app_back_and_says_so_once(runtime):
    b = booted(runtime)
    write_file(b.flash, "/bundles/app/a/app.py", b'print("TAMPERED")\n')
    since = state(b.flash).boot_count
    first, second = b.boot(), b.boot()
    for record in (first, second):
        assert record.outcome == "ok" and app_version(record) is None and "TAMPERED" not in record.text
    assert bundle_events(b.flash, since) == [("bundle-refused", "file-size", "app a")]  # once, not per boot
    assert "mpboot: bundle-refused file-size app a" in second.output


def test_a_bad_pointer_runs_the_first_copy_that_verifies_and_is_rewritten(runtime):
    b = booted(runtime)
    write_file(b.flash, "/bundles/app/boot", b"a b maybe")
    since = state(b.flash).boot_count
    assert app_version(b.boot()) == "1.0.0"
    assert bundle_events(b.flash, since) == [("bundle-switched", "bad-pointer", "app a")]
    assert pointer(b.flash, "app") == "a"


def test_a_bundle_that_needs_a_newer_firmware_is_held_after_a_firmware_update(runtime):
    # No health check: the firmware trial would import it from the bundle, and fail (as it should).
    b = booted(runtime, health=False, app=app_bundle("1.0.0", min_firmware="1.0.0"))
    result = manualinstall.install(b, signed("0.9.0", 1))  # an older version at the same security version
    assert result.accepted, result.reason
    since = state(b.flash).boot_count - 1
    assert app_version(result.boots[-1]) is None
    assert bundle_events(b.flash, since) == [("bundle-held", "needs-firmware", "app 1.0.0")]
    assert app_version(b.boot()) is None and bundle_events(b.flash, since) == [
        ("bundle-held", "needs-firmware", "app 1.0.0")]  # held, and said once
    assert pointer(b.flash, "app") == "a"  # kept: a firmware that fits runs it again


def test_a_bundle_for_another_mpy_version_is_held(runtime):
    # As after a firmware update to a MicroPython of another .mpy version (the emulated board's
    # interpreter is fixed, so the bundle is provisioned for another one instead).
    b = board(provisioned(health=False, app=app_bundle("1.0.0", mpy=5)), runtime)
    record = b.boot()
    assert record.outcome == "ok" and app_version(record) is None
    assert bundle_events(b.flash) == [("bundle-held", "wrong-mpy", "app 1.0.0")]


BOTH = """
from _emu import call
from mpboot_fw import bundlestore, install


class _Part:
    # the serial link's next n bytes: first the bundle, then the image
    def __init__(self, n):
        self.n = n

    def readinto(self, buf):
        want = min(len(buf), self.n)
        if not want:
            return 0
        tmp = bytearray(want)
        got = call("serial.read", None, tmp, 0)
        buf[:got] = tmp[:got]
        self.n -= got
        return got


bundlestore.install(_Part(%d))
install.run(_Part(%d), %d)
"""


def test_a_bundle_trial_waits_for_the_firmware_trial(runtime):
    # As an update check might: a bundle and a firmware image installed in one boot.
    b = booted(runtime)
    since = state(b.flash).boot_count
    new_app, image = app_bundle("2.0.0", 2), signed("2.0.0", 2)
    b.services[manualinstall.SERVICE] = manualinstall.SerialLink(new_app + image)
    records = [b.boot(repl=BOTH % (len(new_app), len(image), len(image)))] + settle(b)
    assert [(r.slot, r.outcome, app_version(r)) for r in records] == [
        ("ota_0", "reset", "1.0.0"), ("ota_1", "reset", None), ("ota_1", "reset", None), ("ota_1", "ok", "2.0.0")]
    # The firmware's trial ran first, with the confirmed copy a (its health check passed with
    # it); the bundle's trial started only on the next boot, a normal one.
    assert [e[:2] for e in events(b.flash, since)] == [
        ("bundle-installed", ""), ("installed", ""), ("verified", ""), ("confirmed", ""), ("bundle-verified", ""),
        ("bundle-confirmed", "")]
    assert pointer(b.flash, "app") == "b" and state(b.flash).bundle_floor("app") == 2


CLAIMING_HEALTH = """from mpboot_fw import context, install, slots


def check():
    # A health check that starts a firmware install, as an update check could.
    running = slots.running()
    try:
        install.claim(context.load(), running, slots.other(running))
        print("CLAIMED")
    except install.InstallError as e:
        print("CLAIM REFUSED", e)
    return True
"""


def test_no_firmware_install_starts_while_a_bundle_trial_runs(runtime):
    # Its next boot would be the image's trial, with the bundle's copy still unconfirmed.
    b = booted(runtime)
    since, records = update(b, app_bundle("2.0.0", 2, extra={"apphealth.py": CLAIMING_HEALTH.encode()}))
    trial = records[0].text
    assert "CLAIM REFUSED trial-in-progress: bundle app" in trial and "CLAIMED" not in trial, trial
    assert [e[0] for e in bundle_events(b.flash, since)] == ["bundle-installed", "bundle-verified", "bundle-confirmed"]
    assert [r.slot for r in records] == ["ota_0"] * len(records)  # otadata untouched: no image trial


def test_mpboots_own_package_is_updated_as_a_bundle(runtime):
    b = booted(runtime, package=package_bundle("1.0.0"))
    assert read_file(b.flash, "/lib/mpboot_fw/stage.py") is None
    since, records = update(b, package_bundle("1.1.0", 2, {"mpboot_fw/release.py": b"V = '1.1.0'\n"}))
    assert [(r.outcome, app_version(r)) for r in records] == [("reset", None), ("ok", "1.0.0")]
    assert bundle_events(b.flash, since) == [("bundle-installed", "", "mpboot 1.1.0 b"),
                                             ("bundle-verified", "", "mpboot 1.1.0 b"),
                                             ("bundle-confirmed", "", "mpboot 1.1.0 b")]
    assert pointer(b.flash, "mpboot") == "b" and state(b.flash).bundle_floor("mpboot") == 2
    # From now on the package runs from copy b, and the application is updated by it.
    _, records = update(b, app_bundle("2.0.0", 2))
    assert app_version(records[-1]) == "2.0.0"


BROKEN_PACKAGES = {
    # what is wrong with the new copy: (its files over the package's, the loader's reason)
    "a syntax error": ({"mpboot_fw/stage.mpy": None, "mpboot_fw/stage.py": b"def main(:\n"}, "import-error"),
    "a stage that raises": ({"mpboot_fw/stage.mpy": None,
                             "mpboot_fw/stage.py": b"def main():\n    raise RuntimeError('broken stage')\n"},
                            "stage-error"),
    "a stage that never confirms": ({"mpboot_fw/stage.mpy": None, "mpboot_fw/stage.py": b"def main():\n    pass\n"},
                                    "not-confirmed"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PACKAGES))
def test_a_broken_new_copy_of_mpboot_is_rolled_back_by_the_fixed_loader(runtime, case):
    changes, reason = BROKEN_PACKAGES[case]
    b = booted(runtime, package=package_bundle("1.0.0"))
    since, records = update(b, package_bundle("1.1.0", 2, changes))
    assert [(r.outcome, app_version(r)) for r in records] == [("reset", None), ("ok", "1.0.0")], records[0].text
    assert bundle_events(b.flash, since) == [("bundle-installed", "", "mpboot 1.1.0 b"),
                                             ("bundle-rolled-back", reason, "mpboot b")]
    assert pointer(b.flash, "mpboot") == "a" and state(b.flash).bundle_floor("mpboot") == 1
    assert read_file(b.flash, "/bundles/mpboot/b.mpbm") is None
    assert app_version(b.boot()) == "1.0.0"


def test_a_damaged_active_copy_of_mpboot_makes_the_loader_run_the_other(runtime):
    b = booted(runtime, package=package_bundle("1.0.0"))
    update(b, package_bundle("1.1.0", 1, {"mpboot_fw/release.py": b"V = '1.1.0'\n"}))
    assert pointer(b.flash, "mpboot") == "b"
    write_file(b.flash, "/bundles/mpboot/b/mpboot_fw/release.py", b"V = 'rot'\n")
    since = state(b.flash).boot_count
    record = b.boot()
    assert app_version(record) == "1.0.0", record.text
    assert bundle_events(b.flash, since) == [("bundle-switched", "bad-copy", "mpboot a")]
    assert pointer(b.flash, "mpboot") == "a"


def test_which_application_starts_when_several_bundles_have_an_entry_point(runtime):
    record = board(provisioned(bundles=[tool_bundle()], config={"app": "tool"}), runtime).boot()
    assert "TOOL" in record.output and app_version(record) is None  # config "app" names it
    flash = provisioned(bundles=[tool_bundle()])
    b = board(flash, runtime)
    first, second = b.boot(), b.boot()
    for record in (first, second):  # none: which one would be a guess
        assert record.outcome == "ok" and "TOOL" not in record.output and app_version(record) is None
    assert events(flash) == [("bad-config", "app: several bundles have an entry point, set app to one", None)]


def main_bundle(version):
    """An application whose entry is a plain module, main (its main.py runs when imported)."""
    files = {"main.py": ("print('MAIN', %r)\n" % version).encode()}
    return hostbundle.build(files, [RELEASE], TRUSTED, name="app", version=version, security_version=1,
                            board=BOARD.name, chip_id=BOARD.chip_id, entry="main")[0]


def test_an_entry_main_runs_once_from_the_bundle_not_the_starter_and_not_in_its_trial(runtime):
    # The bundle's directory comes before the root on sys.path, so `import main` finds the
    # bundle's main.py, not /main.py (the starter). The trial does not import a plain module
    # entry: that would start the application inside the trial, before it is confirmed.
    b = board(provisioned(app=main_bundle("1.0.0"), health=False), runtime)
    assert [ln for ln in b.boot().output if ln.startswith("MAIN")] == ["MAIN 1.0.0"]
    since, records = update(b, main_bundle("2.0.0"))
    trial = records[-1].output
    assert [ln for ln in trial if ln.startswith("MAIN")] == ["MAIN 2.0.0"]
    assert trial.index("MAIN 2.0.0") > trial.index("mpboot: boot %d: bundle-confirmed app 2.0.0 b" % (since + 2))
