"""Over-the-air bundle updates end to end on the emulated board (tests/bundleworld.py): the real
repository, real HTTPS (`mpboot serve`, or the misbehaving fixture server), real MicroPython
running the boot stage, the fixed starter and the application's own update check, the bundle
store writing the filesystem inside the power-cut model (unix port).

Each attack leaves the device on its good copy (pointer `a`, copy a as installed) with the
reason in the state log."""

import pytest

from https_fixtures import Behaviour
from bundleworld import NAME, BundleWorld, app_files, app_version, bundle_fixture_world, bundle_world  # noqa: F401
from emuboard import board_runtime
from otaworld import output_line

ONE_FILE = {"version.py": b"VERSION = '2.0.0'\n"}


def served(w, prefix):
    """[(path, status, bytes)] of the requests `mpboot serve` logged under `prefix`."""
    out = []
    for line in w.access:
        parts = line.split()
        for i, p in enumerate(parts):
            if p.startswith(prefix):
                out.append((p, parts[i + 1], parts[i + 2]))
    return out


def assert_on_good_copy(w):
    assert w.pointer() == "a"
    assert w.copy("a") == app_files("1.0.0")


def test_bundle_update_over_the_air_downloads_only_the_changed_file(bundle_world):
    w = bundle_world
    first = w.boot()
    assert output_line(first, "ota:") == "current", first.output
    w.publish_bundle("2.0.0", ONE_FILE)
    install = w.boot()
    assert install.outcome == "reset", install.output  # check() resets into the bundle's trial
    assert w.pointer() == "a b" and w.copy("b") == app_files("2.0.0", ONE_FILE)
    # the manifest (a TUF target) and the one changed file: nothing else of the bundle
    files = served(w, "/files/")
    assert files == [(w.file_url(ONE_FILE["version.py"]), "200", str(len(ONE_FILE["version.py"])))], w.access
    targets = served(w, "/targets/")
    assert len(targets) == 1 and targets[0][0].endswith(".%s-2.0.0.mpbm" % NAME) and targets[0][1] == "200"
    codes = [e[:2] for e in w.bundle_events()]
    assert codes[-3:] == [("ota-bundle", "chosen"), ("bundle-installed", ""), ("ota-bundle", "installed")], codes
    detail = w.bundle_events()[-1][2]
    assert detail == "app 2.0.0 1+%dB new 3+%dB kept" % (
        len(ONE_FILE["version.py"]), sum(len(d) for p, d in app_files("1.0.0").items() if p != "version.py"))
    trial = w.boot()
    assert app_version(trial) == "2.0.0", trial.output
    assert w.pointer() == "b"
    assert output_line(trial, "ota:") == "current"
    assert w.state().bundle_floor(NAME) == 1


def test_a_tampered_content_addressed_file_is_refused(bundle_world):
    w = bundle_world
    w.publish_bundle("2.0.0", ONE_FILE)
    path = w.repo_dir / "files" / "sha256" / w.file_url(ONE_FILE["version.py"]).rsplit("/", 1)[1]
    path.write_bytes(b"VERSION = '6.6.6'\n")  # same size, other bytes
    record = w.boot()
    assert output_line(record, "ota-failed:").split()[:3] == ["ota-refused", "file-hash", "app:"], record.output
    assert_on_good_copy(w)
    assert ("bundle-refused", "file-hash") in [e[:2] for e in w.bundle_events()]


def test_a_manifest_that_does_not_match_its_tuf_entry_is_refused(bundle_world):
    w = bundle_world
    w.publish_bundle("2.0.0", ONE_FILE)
    # mix-and-match: the 1.0.0 manifest (validly signed) served under 2.0.0's target name
    (target,) = (w.repo_dir / "targets").rglob("*.%s-2.0.0.mpbm" % NAME)
    old = w.bundle("1.0.0")[1]
    target.write_bytes(old)
    record = w.boot()
    failed = output_line(record, "ota-failed:").split()
    assert failed[:2] == ["ota-refused", "LengthOrHashMismatch"], record.output
    assert_on_good_copy(w)
    assert served(w, "/files/") == []  # refused before any file was fetched


def test_a_rolled_back_bundle_behind_a_newer_version_is_refused(bundle_world):
    w = bundle_world
    # the metadata lists 3.0.0, but the manifest it points to (hashes and all) is 1.0.0's
    _, manifest, files = w.bundle("1.0.0")
    w.publish_manifest(manifest, files, "3.0.0")
    record = w.boot()
    assert output_line(record, "ota-failed:").split()[:2] == ["ota-refused", "metadata-mismatch"], record.output
    assert_on_good_copy(w)


def test_an_endless_file_response_is_cut_at_its_size(bundle_fixture_world):
    w = bundle_fixture_world
    w.publish_bundle("2.0.0", ONE_FILE)
    # root (404), timestamp, snapshot, targets, the manifest; then the file never ends
    w.server.plan = [Behaviour()] * 5 + [Behaviour(length=None, endless=True)]
    record = w.boot(options={"backoff_ms": 10})
    assert output_line(record, "ota-failed:").split()[:2] == ["ota-error", "too-long"], record.output
    assert_on_good_copy(w)
    assert [r["path"] for r in w.server.requests][-1] == w.file_url(ONE_FILE["version.py"])


def test_a_frozen_repository_installs_nothing(bundle_world):
    w = bundle_world
    fresh = output_line(w.boot(), "ota:")
    assert fresh == "current"
    w.publish_bundle("2.0.0", ONE_FILE)
    # the timestamp stops being re-signed: a check after it expired refuses the metadata
    record = w.boot(clock=w.state().time_floor + 30 * 86400)
    assert output_line(record, "ota-failed:").split()[:3] == ["ota-refused", "Expired", "timestamp"], record.output
    assert_on_good_copy(w)
    assert served(w, "/files/") == []


CHECKS = """
from mpboot_fw import bundlestore, updater
def _check():
    try:
        return updater.check(reset=False)
    except updater.UpdateError as e:
        return e.code + " " + e.reason
print("@@", _check())
print("@@", _check())
bundlestore.write_pointer(%r, "a", "b", "try")
print("@@", _check())
bundlestore.write_pointer(%r, "a", "b")
""" % (NAME, NAME)


def test_no_check_while_a_bundle_waits_for_its_trial_or_runs_it(tmp_path):
    w = BundleWorld(tmp_path, board_runtime(), check=False)
    try:
        w.publish_bundle("2.0.0", ONE_FILE)
        seen = {}

        def repl(mp, handler):
            out = mp.run(CHECKS, handler=handler, timeout=120)
            seen["lines"] = [line[3:] for line in out.check().splitlines() if line.startswith("@@ ")]
            return out

        record = w.boot(repl=repl)
        assert record.outcome == "ok", record.output
        # installed without a reset; then "pending" until the boot that starts its trial, and
        # refused during that trial (its health check may call check()): neither asks the server
        assert seen["lines"] == ["bundle-installed", "pending", "ota-refused trial-in-progress"], record.output
        assert len(served(w, "/files/")) == 1 and len(served(w, "/metadata/timestamp.json")) == 1
        trial = w.boot()
        assert app_version(trial) == "2.0.0" and w.pointer() == "b", trial.output
    finally:
        w.close()


def test_a_cut_file_download_resumes_from_the_bytes_delivered(bundle_fixture_world):
    w = bundle_fixture_world
    data = bytes(b ^ 0x55 for b in app_files("1.0.0")["lib/data.bin"])
    w.publish_bundle("2.0.0", {"lib/data.bin": data})
    # root (404), timestamp, snapshot, targets, the manifest; data.bin's connection drops twice
    # (version.py, the other file 2.0.0 changes, comes after it)
    w.server.plan = [Behaviour()] * 5 + [Behaviour(cut=5000), Behaviour(cut=7001)]
    record = w.boot(options={"backoff_ms": 10})
    assert record.outcome == "reset", record.output
    requests = [r for r in w.server.requests if r["path"] == w.file_url(data)]
    assert [r["range"] for r in requests] == [None, 5000, 12001]  # exactly the bytes delivered
    assert w.pointer() == "a b" and w.copy("b")["lib/data.bin"] == data


def test_mpboot_s_own_package_is_updated_over_the_air(tmp_path):
    w = BundleWorld(tmp_path, board_runtime(), package=True)
    try:
        first = w.boot()
        assert output_line(first, "ota:") == "current" and app_version(first) == "1.0.0", first.output
        release = {"mpboot_fw/release.txt": b"2.0.0\n"}  # one file more; every module as it was
        data = w.publish_bundle("2.0.0", data=w.package("2.0.0", release)[0])
        install = w.boot()
        assert install.outcome == "reset", install.output
        assert served(w, "/files/") == [(w.file_url(release["mpboot_fw/release.txt"]), "200", "6")]
        # the fixed loader runs copy b on trial, the stage confirms it, the application starts
        trial = w.boot()
        assert app_version(trial) == "1.0.0" and output_line(trial, "ota:") == "current", trial.output
        assert w.read_files()["/bundles/mpboot/boot"] == b"b"
        assert ("bundle-confirmed", "", "mpboot 2.0.0 b") in w.bundle_events()
        assert w.read_files()["/bundles/mpboot/b/mpboot_fw/release.txt"] == release["mpboot_fw/release.txt"]
        assert len(data) > 100000  # the whole package, of which one file travelled
    finally:
        w.close()


def test_a_release_whose_trial_failed_is_not_installed_again_but_a_newer_one_is(bundle_world):
    # Offered again, 2.0.0 would fail again: an install and two resets at every check.
    w = bundle_world
    w.publish_bundle("2.0.0", {"app.py": b"raise ImportError('app: broken release')\n"})
    assert w.boot().outcome == "reset" and w.pointer() == "a b"  # installed; the next boot is its trial
    trial = w.boot()
    assert trial.outcome == "reset" and w.pointer() == "a", trial.output
    assert ("bundle-trial-failed", "import-error", "app 2.0.0 b") in w.bundle_events()
    again = w.boot()
    assert app_version(again) == "1.0.0" and output_line(again, "ota:") == "current", again.output
    assert w.pointer() == "a"
    w.publish_bundle("2.0.1", ONE_FILE)
    assert w.boot().outcome == "reset" and w.pointer() == "a b"
    fixed = w.boot()
    assert app_version(fixed) == "2.0.0" and w.pointer() == "b", fixed.output  # ONE_FILE says 2.0.0
