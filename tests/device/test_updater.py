# The updater's parts that need no board, on both runtimes: status() from a state log (freeze,
# expiry, clock behind, failure count), the manifest-against-metadata check, and the update
# configuration file. The whole check runs on the emulated board (tests/test_ota_*.py).
import devtest
from mpboot_fw import image, otaconfig, statelog, updater
from mpboot_fw.blockdev import BytesDevice
from nor_ram import NorRam
from test_tuf import NOW, Repository, _read
from test_tufstore import _refresh

DAY = 86400


class Context:
    def __init__(self, state):
        self.state = state


def _context(refreshed=True, time_floor=NOW):
    dev = NorRam(16)
    statelog.format_partition(dev, _read("1.root.json"), time_floor=time_floor)
    if refreshed:
        _refresh(dev, Repository({"timestamp.json": "3.timestamp.json", "3.snapshot.json": "3.snapshot.json",
                                  "3.targets.json": "3.targets.json"}))
    return Context(statelog.load(dev))


def _status(ctx, clock):
    return updater.status(clock=lambda: clock, path="/no/such/file", ctx=ctx)


def test_status_fresh_stale_expired():
    ctx = _context()
    s = _status(ctx, NOW + 3600)
    assert s["ok"] and not (s["stale"] or s["expired"] or s["clock_behind"] or s["revoked"])
    assert (s["fresh_at"], s["expires"], s["failures"], s["last"]) == (NOW, 1782864000, 0, None)
    s = _status(ctx, NOW + 3 * DAY)  # stale_after is 2 days by default
    assert s["stale"] and not s["expired"] and not s["ok"]
    s = _status(ctx, 1782864000)  # the stored metadata's earliest expiry
    assert s["stale"] and s["expired"]


def test_a_clock_set_back_is_judged_by_the_floor():
    ctx = _context()
    s = _status(ctx, NOW - 30 * DAY)
    assert s["clock_behind"] and s["ok"]


def test_a_device_that_never_refreshed():
    s = _status(_context(refreshed=False, time_floor=0), NOW)
    assert s["expires"] is None and not s["expired"] and s["stale"] and s["fresh_at"] == 0


def test_failures_count_since_the_last_good_check():
    ctx = _context()
    state = ctx.state
    state.log_event("ota-error", "timeout", "metadata/timestamp.json")
    state.log_event("ota-current", "", "1.0.0")
    state.log_event("confirmed", "", "ota_1 1.0.0 sv1")  # not the updater's: ignored
    for reason in ("refused", "Rollback"):
        state.log_event("ota-error" if reason == "refused" else "ota-refused", reason)
    state.log_event("ota-stale", "stale")
    s = _status(ctx, NOW)
    assert s["failures"] == 2 and s["last"][1:3] == ("ota-stale", "stale") and s["ok"]
    state.log_event("ota-revoked", "signature-threshold", "running 1.0.0")
    s = _status(ctx, NOW)
    assert s["revoked"] and not s["ok"]


def test_the_manifest_must_be_what_the_metadata_described():
    with open(devtest.data_path("image.mpb"), "rb") as f:
        m = image.read_manifest(BytesDevice(f.read()))
    custom = {"version": m.version, "security_version": m.security_version}
    updater._check_manifest(m, custom, m.chip_id, m.board)
    for args, reason in (((custom, 5, m.board), "wrong-chip"), ((custom, m.chip_id, "other-board"), "wrong-board"),
                         ((dict(custom, version="9.9.9"), m.chip_id, m.board), "metadata-mismatch"),
                         ((dict(custom, security_version=99), m.chip_id, m.board), "metadata-mismatch")):
        e = devtest.raises(image.ImageError, updater._check_manifest, m, *args)
        assert e.reason == reason, (args, e.reason)


def test_update_configuration():
    cfg = otaconfig.check({"url": "https://u.example.com", "ca": "/ca.pem"})
    assert (cfg.url, cfg.stale_after, cfg.timeout_ms, cfg.min_rate) == ("https://u.example.com/", 172800, 15000, 1024)
    for doc, words in (({"ca": "/ca.pem"}, "url"), ({"url": "http://u/", "ca": "/c"}, "https"),
                       ({"url": "https://u/"}, "ca missing"), ({"url": "https://u/", "ca": "/c", "cert": "/x"}, "together"),
                       ({"url": "https://u/", "ca": "/c", "stale_after": True}, "stale_after"),
                       ({"url": "https://u/", "ca": "/c", "proxy": "p"}, "unknown field proxy"), ([], "object")):
        e = devtest.raises(otaconfig.OtaConfigError, otaconfig.check, doc)
        assert words in str(e), (doc, str(e))
    e = devtest.raises(otaconfig.OtaConfigError, otaconfig.load, "/no/such/file")
    assert "no /no/such/file" in str(e)


def test_failed_trials_are_read_from_the_stage_and_bundle_events():
    # What the boot stage logs when an image's trial fails ("verified", then "trial-failed" in
    # the same boot) and bundleboot for a bundle's, as the updater reads them to pass those
    # releases over; a trial that never finished ("rolled-back": a power cut) is retried.
    state = _context(refreshed=False).state
    for code, reason, detail in (
            ("verified", "", "ota_1 3.0.0 sv3"), ("trial-failed", "health-failed", "False"),
            ("rolled-back", "not confirmed", "ota_1 3.0.0"),
            ("verified", "", "ota_1 3.1.0 sv3"), ("rolled-back", "not confirmed", "ota_1 3.1.0"),
            ("bundle-verified", "", "app 2.0.0 b"), ("bundle-trial-failed", "import-error", "app 2.0.0 b"),
            ("bundle-verified", "", "app 2.0.1 b"), ("bundle-rolled-back", "not-confirmed", "app b"),
            ("bundle-trial-failed", "bad-copy", "tool 1.1.0 a")):
        if code == "verified":
            state.next_boot()  # each image trial is a boot of its own
        state.log_event(code, reason, detail)
    assert updater._failed_trials(state) == {None: ("3.0.0",), "app": ("2.0.0",), "tool": ("1.1.0",)}


def test_a_check_that_fails_loading_the_context_still_logs_why():
    ctx = _context()
    loads = []

    def load():
        loads.append(1)
        if len(loads) == 1:
            raise MemoryError("memory allocation failed, allocating 4096 bytes")
        return ctx

    real = updater.context.load
    updater.context.load = load
    try:
        e = devtest.raises(updater.UpdateError, updater.check, clock=lambda: NOW, path="/no/such/file")
    finally:
        updater.context.load = real
    assert (e.code, e.reason) == ("ota-error", "MemoryError"), e
    assert _status(ctx, NOW)["last"][1:3] == ("ota-error", "MemoryError")
