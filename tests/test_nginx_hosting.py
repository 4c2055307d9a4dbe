"""Production hosting: a real nginx, configured with docs/repository.md's recipe as written
(tests/nginxsite.py changes only its address, certificate and root), serves a repository that
the mpboot commands publish and keep fresh, over TLS with Range requests, to the emulated board
(tests/otaworld.py: real MicroPython, the flash model, the emulated bootloader). The device
updates through it, resumes a download cut part way, and its checks follow the cron job:
fresh timestamps are accepted, and once the job stops the served timestamp expires and is
refused. Loopback only; nginx and the relay are stopped whatever happens."""

import http.client
import shutil
import ssl
from datetime import timedelta

import pytest

import appbuilder
import nginxsite
from mpboot import cli, keys as keymod, signing
from mpboot.repo import store
from mpboot_fw import tufstore
from otaworld import World, output_line, status


def _publish_with_cli(w, version, capsys, app_bytes=None):
    """`mpboot publish REPO IMAGE --channel stable`, the image signed by the repository's
    targets key (what `mpboot sign` writes); app_bytes: an app of about that size."""
    if app_bytes is None:
        data = w.image(version)
    else:
        app = appbuilder.build(version=version, data_segments=(1000, app_bytes), seed=7)
        keys = [keymod.load_private_key(p) for p in w.repo().settings.key_paths(w.repo_dir, "targets").values()]
        data = signing.sign_app(app, keys, version, 1, 0, board="esp32-4mb", created=1767225600)
    path = w.tmp / ("app-%s.mpb" % version)
    path.write_bytes(data)
    assert cli.main(["publish", str(w.repo_dir), str(path), "--channel", "stable"]) == 0, capsys.readouterr()
    return data


def _cron_timestamp(monkeypatch, capsys, repo_dir, at):
    """One run of the cron job, `mpboot repo timestamp REPO`, with the repository host's clock at `at`."""
    with monkeypatch.context() as m:
        m.setattr(store, "utcnow", lambda: at)
        assert cli.main(["repo", "timestamp", str(repo_dir)]) == 0, capsys.readouterr()
    return capsys.readouterr().out


def _world_on(nginx_url, tmp_path, micropython):
    """A World whose device's update URL is `nginx_url`; World's own `mpboot serve` is stopped
    before the device ever runs, so every request the device makes goes to nginx."""
    w = World(tmp_path, micropython, ota={"url": nginx_url})
    w.server.stop()
    return w


@pytest.fixture
def nginx(tmp_path):
    with nginxsite.Nginx(tmp_path / "nginx", tmp_path / "repo", tmp_path / "tls") as server:
        yield server


def _get(server, path, headers=None):
    ctx = ssl.create_default_context(cafile=str(server.dev.ca_cert))
    conn = http.client.HTTPSConnection("localhost", server.port, context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_nginx_is_missing_fails_naming_the_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(nginxsite, "SBIN", "/nonexistent/nginx")
    for ci in ("true", None):
        if ci:
            monkeypatch.setenv("CI", ci)
        else:
            monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.fail.Exception) as e:
            nginxsite.find_nginx()
        assert "Debian package nginx" in str(e.value) and ("CI" in str(e.value)) == bool(ci)


def test_device_updates_from_nginx_and_cron_keeps_it_fresh(nginx, tmp_path, micropython, monkeypatch, capsys):
    rc, out = nginx.check_config()
    assert rc == 0 and "test is successful" in out, out
    w = _world_on(nginx.url, tmp_path, micropython)
    try:
        v2 = _publish_with_cli(w, "2.0.0", capsys)
        install = w.boot()
        assert install.outcome == "reset", install.output
        trial = w.boot()
        assert (trial.slot, trial.app["version"]) == ("ota_1", "2.0.0")
        assert "mpboot: boot 2: confirmed ota_1 2.0.0 sv1" in trial.output, trial.output
        assert output_line(trial, "ota:") == "current"
        assert w.flash.read(w.board.board.app_slots[1].offset, len(v2)) == v2
        served = nginx.requests()
        assert w.net.connections and {port for _, port in w.net.connections} == {nginx.port}
        image = [r for r in served if r["uri"].startswith("/targets/")]
        assert [(r["status"], r["range"], r["sent"]) for r in image] == [(200, "-", len(v2))]
        assert image[0]["cache"] == "public, max-age=31536000, immutable"
        by_name = {r["uri"].rsplit("/", 1)[1]: r for r in served}
        assert by_name["timestamp.json"]["cache"] == "no-cache"
        snapshot = [r for r in served if r["uri"].endswith(".snapshot.json")][-1]
        assert (snapshot["status"], snapshot["cache"]) == (200, "public, max-age=300")

        # The recipe's promises, asked directly: private files stay private, ranges work.
        assert _get(nginx, "/mpboot-repo.json")[0] == 404
        (w.repo_dir / "metadata" / ".timestamp.json.tmp").write_bytes(b"half written")
        assert _get(nginx, "/metadata/.timestamp.json.tmp")[0] == 404
        target = image[0]["uri"]
        code, headers, body = _get(nginx, target, {"Range": "bytes=4096-"})
        assert (code, body) == (206, v2[4096:])
        assert headers["content-range"] == "bytes 4096-%d/%d" % (len(v2) - 1, len(v2))
        assert _get(nginx, target, {"Range": "bytes=%d-" % len(v2)})[0] == 416
        code, headers, body = _get(nginx, "/metadata/root.json")
        assert (code, headers["cache-control"], headers["content-type"]) == (200, "no-cache", "application/json")

        # Cron: the repository host's clock runs on, `mpboot repo timestamp` every 6 hours.
        start = store.utcnow()
        published = w.repo().timestamp.version
        day = timedelta(days=1)
        after_expiry = int((start + day + timedelta(hours=7)).timestamp())
        # Without the job, the timestamp from the publish has expired by then: the device refuses it.
        before = w.boot(clock=after_expiry)
        assert output_line(before, "ota-failed:").split()[:3] == ["ota-refused", "Expired", "timestamp"], before.output
        runs = 5
        for k in range(1, runs + 1):
            out = _cron_timestamp(monkeypatch, capsys, w.repo_dir, start + timedelta(hours=6 * k))
            assert "timestamp version %d" % (published + k) in out, out
        log_before = len(nginx.requests())
        fresh = w.boot(clock=after_expiry)
        assert output_line(fresh, "ota:") == "current", fresh.output
        assert status(fresh)["ok"]
        stored = w.state()
        assert tufstore.Store(stored, None).load("timestamp") == w.metadata("timestamp.json").read_bytes()
        assert stored.time_floor == after_expiry
        check = nginx.requests()[log_before:]
        assert [(r["uri"], r["status"], r["cache"]) for r in check if r["uri"] == "/metadata/timestamp.json"] == \
            [("/metadata/timestamp.json", 200, "no-cache")]

        # Cron stops: the last timestamp (signed at start + 30 h) lasts a day, then it is refused.
        last_expiry = start + timedelta(hours=6 * runs) + day
        log_before = len(nginx.requests())
        stopped = w.boot(clock=int((last_expiry + timedelta(hours=1)).timestamp()))
        assert output_line(stopped, "ota-failed:").split()[:3] == ["ota-refused", "Expired", "timestamp"], stopped.output
        assert status(stopped)["expired"] and not status(stopped)["ok"]
        check = nginx.requests()[log_before:]
        assert ("/metadata/timestamp.json", 200) in [(r["uri"], r["status"]) for r in check], check
        assert stopped.app["version"] == "2.0.0"
    finally:
        w.close()


def test_a_download_cut_through_nginx_is_resumed_with_a_range(nginx, tmp_path, micropython, capsys):
    # nginx sends TLS records of up to 16 KiB (ssl_buffer_size): the device reads a record only
    # once all of it has come, so the image is large enough for a few whole records to arrive
    # before the cut. Metadata connections bring back a few KiB (TLS handshake included); the
    # relay drops the first connection past 40000 bytes, in the image's.
    relay = nginxsite.CuttingRelay(nginx.port, cut_after=40000)
    w = None
    try:
        w = _world_on("https://localhost:%d/" % relay.port, tmp_path, micropython)
        v2 = _publish_with_cli(w, "2.0.0", capsys, app_bytes=80000)
        assert len(v2) > relay.cut_after
        install = w.boot(options={"backoff_ms": 10})
        assert install.outcome == "reset", install.output
        assert relay.cut is not None and relay.relayed[relay.cut] == relay.cut_after, relay.relayed
        image = [r for r in nginx.requests() if r["uri"].startswith("/targets/")]
        assert [(r["status"], r["range"]) for r in image[:1]] == [(200, "-")], image
        assert len(image) == 2, (image, relay.relayed)
        resumed = image[1]
        start = int(resumed["range"].removeprefix("bytes=").removesuffix("-"))
        # the device asks from the last whole block it wrote, and nginx answers the rest
        assert 0 < start < len(v2) and start % 4096 == 0, resumed
        assert resumed["status"] == 206 and resumed["sent"] == len(v2) - start
        assert resumed["content_range"] == "bytes %d-%d/%d" % (start, len(v2) - 1, len(v2))
        trial = w.boot()
        assert (trial.slot, trial.app["version"]) == ("ota_1", "2.0.0")
        assert "mpboot: boot 2: confirmed ota_1 2.0.0 sv1" in trial.output, trial.output
        assert w.flash.read(w.board.board.app_slots[1].offset, len(v2)) == v2
        download = [e for e in w.ota_events() if e[0] == "ota-download"]
        assert download[0][2].endswith("%d bytes 0 restarts" % len(v2)), download
    finally:
        if w is not None:
            w.close()
        relay.stop()


def test_bundle_files_are_served_by_hash_with_ranges(nginx, tmp_path):
    # A bundle published into the repository nginx serves: its manifest is a target like an
    # image's, and each file is fetched from files/sha256/<hex> (immutable, resumable).
    import hashlib

    from mpboot.repo import publish as publish_mod
    from repotest import BUNDLE_FILES, keyring, make_bundle, make_repo

    repo = make_repo(tmp_path / "repo")
    report = publish_mod.publish(repo, keyring(repo), make_bundle(repo, tmp_path), "stable")
    data = BUNDLE_FILES["data.bin"]
    path = "/files/sha256/" + hashlib.sha256(data).hexdigest()
    code, headers, body = _get(nginx, path)
    assert (code, body, headers["cache-control"]) == (200, data, "public, max-age=31536000, immutable")
    assert headers["content-type"] == "application/octet-stream"
    code, headers, body = _get(nginx, path, {"Range": "bytes=1000-"})
    assert (code, body, headers["content-range"]) == (206, data[1000:], "bytes 1000-%d/%d" % (len(data) - 1, len(data)))
    assert _get(nginx, path, {"Range": "bytes=%d-" % len(data)})[0] == 416
    assert _get(nginx, "/files/sha256/" + "0" * 64)[0] == 404
    (repo.dir / "files" / "sha256" / ".half.tmp").write_bytes(b"x")
    assert _get(nginx, "/files/sha256/.half.tmp")[0] == 404
    target = "/targets/esp32-4mb/stable/%s.app-1.0.0.mpbm" % report["sha256"]
    code, _, body = _get(nginx, target)
    assert (code, len(body)) == (200, report["length"])
