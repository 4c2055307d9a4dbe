"""Over-the-air update end to end on the emulated board (tests/otaworld.py): the real repository
commands, the real HTTPS server, real MicroPython running boot.py (the boot stage) and main.py
(the updater), the NOR flash model and the emulated ESP-IDF bootloader."""

import random
import time

import pytest

from https_fixtures import Behaviour
from mpboot_fw import tufstore
from otaworld import World, fixture_world, output_line, status, world  # noqa: F401 (fixtures)


def stored_set(w):
    state = w.state()
    store = tufstore.Store(state, None)
    return {role: store.load(role) for role in ("root",) + tufstore.ROLES}


def test_update_downloads_installs_trial_boots_and_confirms(world):
    w = world
    first = w.boot()
    assert (first.slot, first.app["version"], output_line(first, "ota:")) == ("ota_0", "1.0.0", "current")
    assert status(first)["ok"]
    v2 = w.publish("2.0.0")
    install = w.boot()
    assert install.outcome == "reset" and install.slot == "ota_0"
    trial = w.boot()
    assert (trial.slot, trial.app["version"]) == ("ota_1", "2.0.0")
    assert "mpboot: boot 3: confirmed ota_1 2.0.0 sv1" in trial.output
    assert output_line(trial, "ota:") == "current"
    again = w.boot()
    assert (again.slot, again.app["version"]) == ("ota_1", "2.0.0")
    codes = [e[0] for e in w.ota_events()]
    assert codes == ["ota-current", "ota-download", "installed", "ota-current", "ota-current"]
    # the slot holds exactly the published image; the state keeps the metadata as served
    slot = w.board.board.app_slots[1]
    assert w.flash.read(slot.offset, len(v2)) == v2
    stored = stored_set(w)
    assert stored["timestamp"] == w.metadata("timestamp.json").read_bytes()
    repo = w.repo()
    assert stored["targets"] == w.metadata("%d.targets.json" % repo.targets.version).read_bytes()
    state = w.state()
    assert state.pending is None and state.time_floor == status(again)["fresh_at"] > 0
    target_requests = [line.split() for line in w.access if " /targets/" in line]
    assert [(r[4], r[5]) for r in target_requests] == [("200", str(len(v2)))]


def test_time_floor_follows_successful_checks_only(world):
    w = world
    t = int(time.time()) + 3600
    assert output_line(w.boot(clock=t), "ota:") == "current"
    assert w.state().time_floor == t
    # a clock far ahead finds the timestamp expired: refused, and the floor does not move
    ahead = w.boot(clock=t + 30 * 86400)
    assert output_line(ahead, "ota-failed:").split()[:3] == ["ota-refused", "Expired", "timestamp"]
    assert w.state().time_floor == t
    # a clock set back is not believed: the check runs at the floor, and succeeds
    back = w.boot(clock=t - 86400)
    assert output_line(back, "ota:") == "current" and status(back)["clock_behind"]
    assert w.state().time_floor == t


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_download_cut_at_random_points_is_resumed(fixture_world, seed):
    w = fixture_world
    v2 = w.publish("2.0.0")
    w.serve_files()
    cuts = sorted(random.Random(seed).sample(range(1, len(v2)), 3))  # where the link drops
    # Each resume asks for the file from the last whole block written (0: no Range header).
    resumes = [c // 4096 * 4096 for c in cuts]
    starts = [0] + resumes
    # root (404), timestamp, snapshot and targets answer normally; the image's connection is
    # then cut at each point (counted in the body each request gets).
    w.server.plan = [Behaviour()] * 4 + [Behaviour(cut=c - start) for c, start in zip(cuts, starts)]
    record = w.boot(options={"backoff_ms": 10})
    assert record.outcome == "reset", record.output
    requests = [r for r in w.server.requests if r["path"].startswith("/targets/")]
    assert [r["range"] or 0 for r in requests] == starts
    trial = w.boot()
    assert (trial.slot, trial.app["version"]) == ("ota_1", "2.0.0")
    assert w.flash.read(w.board.board.app_slots[1].offset, len(v2)) == v2
    download = [e for e in w.ota_events() if e[0] == "ota-download"]
    assert download[0][2].endswith("%d bytes 0 restarts" % len(v2))


def test_a_server_that_ignores_the_range_restarts_the_download(fixture_world):
    w = fixture_world
    v2 = w.publish("2.0.0")
    w.serve_files()
    w.server.plan = [Behaviour()] * 4 + [Behaviour(cut=5000), Behaviour(ignore_range=True)]
    assert w.boot(options={"backoff_ms": 10}).outcome == "reset"
    download = [e for e in w.ota_events() if e[0] == "ota-download"][0]
    assert download[2].endswith("%d bytes 1 restarts" % len(v2))
    assert w.boot().app["version"] == "2.0.0"


def test_status_reports_a_freeze_when_checks_keep_failing(world):
    w = world
    w.boot()
    fresh = w.state().time_floor
    w.server.stop()  # the update server is gone (or blocked)
    soon = w.boot(clock=fresh + 3600, options={"retries": 0, "backoff_ms": 10})
    assert output_line(soon, "ota-failed:").split()[:2] == ["ota-error", "refused"]
    s = status(soon)
    assert not s["stale"] and s["failures"] == 1 and s["ok"]
    late = w.boot(clock=fresh + 3 * 86400, options={"retries": 0, "backoff_ms": 10})
    s = status(late)
    assert s["stale"] and s["expired"] and not s["ok"] and s["failures"] == 2
    codes = [e[:2] for e in w.ota_events()]
    assert codes[-2:] == [("ota-error", "refused"), ("ota-stale", "expired")]
    assert late.app["version"] == "1.0.0"


@pytest.mark.parametrize("with_cert", [True, False])
def test_a_server_that_requires_client_certificates(tmp_path, micropython, with_cert):
    w = World(tmp_path, micropython, client_auth=True, client_cert=with_cert)
    try:
        w.publish("2.0.0")
        record = w.boot(options={"retries": 0, "backoff_ms": 10})
        if with_cert:
            assert record.outcome == "reset" and w.boot().app["version"] == "2.0.0"
        else:
            # TLS 1.3: the server checks the client's certificate after the client has finished
            # its handshake, so the device sees the server's alert, or just the connection close
            failed = output_line(record, "ota-failed:").split()
            assert failed[0] == "ota-error" and failed[1] in ("tls", "closed"), failed
            assert record.app["version"] == "1.0.0" and "/metadata/" not in "".join(w.access)
    finally:
        w.close()


@pytest.mark.parametrize("token", ["s3cret-token", "wrong-token"])
def test_a_server_that_requires_a_bearer_token(tmp_path, micropython, token):
    w = World(tmp_path, micropython, fixture_server=True, token=token)
    try:
        w.server.token = "s3cret-token"
        w.publish("2.0.0")
        w.serve_files()
        record = w.boot(options={"backoff_ms": 10})
        if token == "s3cret-token":
            assert record.outcome == "reset" and w.boot().app["version"] == "2.0.0"
        else:
            assert output_line(record, "ota-failed:").split()[:2] == ["ota-error", "http-401"]
        assert {r["authorization"] for r in w.server.requests} == {"Bearer " + token}
    finally:
        w.close()
