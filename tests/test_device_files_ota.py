"""`mpboot device-files` with the updater's options: the files are what the device's own reader
accepts, secrets stay off the command line and out of other users' reach, and every bad
combination is one line naming the fix with nothing written. (The whole flow, serve to update, is
tests/test_updater_docs.py.)"""

import json

import pytest

import clihelp
from mpboot import tls
from mpboot_fw import config, otaconfig

BASE = ("device-files", "--board", "esp32-4mb")


def test_every_option_reaches_the_device_files(tmp_path, capsys, monkeypatch):
    ca = tls.ensure_dev_tls(tmp_path / "pki").ca_cert
    (tmp_path / "dev.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "dev.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    monkeypatch.setenv("DEVICE_TOKEN", "s3cr3t-t0k3n")
    out = tmp_path / "device"
    r = clihelp.run(capsys, *BASE, "--update-url", "https://updates.example.com:8443", "--update-ca", ca,
                    "--client-cert", tmp_path / "dev.pem", "--client-key", tmp_path / "dev.key",
                    "--token-env", "DEVICE_TOKEN", "--stale-after", "12h", "--channel", "beta", "-o", out)
    assert r.code == 0, r.err
    assert "updates from https://updates.example.com:8443" in r.out and "s3cr3t" not in r.out + r.err
    cfg = otaconfig.check(json.loads((out / "mpboot-ota.json").read_text()))
    assert (cfg.url, cfg.ca, cfg.cert, cfg.key, cfg.token, cfg.stale_after) == (
        "https://updates.example.com:8443/", "/mpboot-ca.pem", "/mpboot-client.pem", "/mpboot-client.key",
        "s3cr3t-t0k3n", 12 * 3600)
    assert config.check(json.loads((out / "mpboot.json").read_text())).channel == "beta"
    assert (out / "mpboot-ca.pem").read_bytes() == ca.read_bytes()
    assert (out / "mpboot-client.pem").read_bytes() == (tmp_path / "dev.pem").read_bytes()
    assert (out / "mpboot-client.key").read_bytes() == (tmp_path / "dev.key").read_bytes()
    for name, mode in (("mpboot-ota.json", 0o600), ("mpboot-client.key", 0o600), ("mpboot-ca.pem", 0o644),
                       ("mpboot.json", 0o644)):
        assert (out / name).stat().st_mode & 0o777 == mode, name


def test_tls_dir_is_the_serve_ca_created_once(tmp_path, capsys):
    tls_dir = tmp_path / "tls"
    r = clihelp.run(capsys, *BASE, "--update-url", "https://localhost:8443/", "--tls-dir", tls_dir, "-o",
                    tmp_path / "a", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["update_url"] == "https://localhost:8443/"
    assert r.err.startswith("mpboot: created the development CA %s" % (tls_dir / "ca.pem"))
    # `mpboot serve --tls-dir` loads the same CA (and keeps it), and a second run creates nothing.
    assert tls.ensure_dev_tls(tls_dir).ca_cert.read_bytes() == (tmp_path / "a" / "mpboot-ca.pem").read_bytes()
    again = clihelp.run(capsys, *BASE, "--update-url", "https://localhost:8443/", "--tls-dir", tls_dir, "-o",
                        tmp_path / "b")
    assert again.code == 0 and again.err == ""
    assert (tmp_path / "b" / "mpboot-ca.pem").read_bytes() == (tmp_path / "a" / "mpboot-ca.pem").read_bytes()


def test_without_update_options_no_update_files(tmp_path, capsys):
    assert clihelp.run(capsys, *BASE, "-o", tmp_path / "d").code == 0
    assert not (tmp_path / "d" / "mpboot-ota.json").exists() and not (tmp_path / "d" / "mpboot-ca.pem").exists()


@pytest.mark.parametrize("options,message", [
    (("--update-ca", "ca.pem"), "--update-ca: give --update-url too"),
    (("--token-env", "T", "--stale-after", "1d"), "--token-env, --stale-after: give --update-url too"),
    (("--update-url", "https://u.example/"), "--update-url needs the CA of the update server"),
    (("--update-url", "https://u.example/", "--update-ca", "ca.pem", "--tls-dir", "tls"), "(one of them)"),
    (("--update-url", "http://u.example/", "--update-ca", "ca.pem"), "url must start with https://"),
    (("--update-url", "https://u.example/", "--update-ca", "missing.pem"), "cannot read --update-ca"),
    (("--update-url", "https://u.example/", "--update-ca", "ca.pem", "--token-env", "MPBOOT_TEST_UNSET"),
     "--token-env MPBOOT_TEST_UNSET: that environment variable is not set"),
    (("--update-url", "https://u.example/", "--update-ca", "ca.pem", "--stale-after", "soon"),
     "--stale-after: not a duration"),
    (("--update-url", "https://u.example/", "--update-ca", "ca.pem", "--client-cert", "ca.pem"), "needs its key"),
])
def test_bad_update_options(tmp_path, capsys, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MPBOOT_TEST_UNSET", raising=False)
    tls.ensure_dev_tls(tmp_path / "pki")
    (tmp_path / "ca.pem").write_bytes((tmp_path / "pki" / "ca.pem").read_bytes())
    clihelp.fails(capsys, *BASE, *options, "-o", tmp_path / "device", match=message)
    assert not (tmp_path / "device").exists()


def test_no_token_on_the_command_line(capsys):
    r = clihelp.run(capsys, "device-files", "--help")
    assert "--token-env" in r.out and "--token " not in r.out and "--token=" not in r.out
