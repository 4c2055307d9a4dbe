"""mpboot.otaprovision: the update files a device gets, checked with the device's own reader."""

import json

import pytest

from mpboot import tls
from mpboot.errors import MpbootError
from mpboot.otaprovision import ota_files
from mpboot_fw import otaconfig


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return tls.ensure_dev_tls(tmp_path_factory.mktemp("tls")).ca_cert


def test_files_the_device_reads_back(ca, tmp_path):
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "c.key").write_text("key")
    files = ota_files("https://updates.example.com:8443", ca, cert=tmp_path / "c.pem", key=tmp_path / "c.key",
                      token="t0k3n", stale_after=3600)
    assert files["/mpboot-ca.pem"] == ca.read_bytes()
    assert files["/mpboot-client.pem"] == b"cert" and files["/mpboot-client.key"] == b"key"
    cfg = otaconfig.check(json.loads(files[otaconfig.PATH]))
    assert (cfg.url, cfg.ca, cfg.cert, cfg.key, cfg.token, cfg.stale_after) == (
        "https://updates.example.com:8443/", "/mpboot-ca.pem", "/mpboot-client.pem", "/mpboot-client.key", "t0k3n", 3600)


@pytest.mark.parametrize("kwargs, message", [
    (dict(url="http://updates.example.com/"), "url must start with https://"),
    (dict(stale_after=0), "stale_after must be a positive integer"),
    (dict(cert="c.pem"), "needs its key"),
    (dict(token="x" * 300), "token must be text"),
])
def test_bad_settings_are_one_line_errors(ca, kwargs, message):
    args = dict(url="https://u.example.com/", ca=ca)
    args.update(kwargs)
    with pytest.raises(MpbootError, match=message):
        ota_files(**args)


def test_the_ca_must_be_a_pem_certificate(tmp_path):
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(MpbootError, match="not a PEM certificate"):
        ota_files("https://u.example.com/", tmp_path / "key.pem")
    with pytest.raises(MpbootError, match="cannot read --update-ca"):
        ota_files("https://u.example.com/", tmp_path / "missing.pem")
