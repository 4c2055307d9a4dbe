"""python-tuf's own client (ngclient) updating from a repository made by `mpboot repo` and
`mpboot publish`, over `mpboot serve` with real TLS: certificate checked against the generated
CA, host name checked. Loopback only."""

import pytest
import urllib3
from tuf.api.exceptions import DownloadError

from mpboot import serve, tls
from mpboot.repo import maintain, publish as publish_mod
from repotest import CAFetcher, key_dir, keyring, make_repo, updater, write_image


@pytest.fixture
def served(tmp_path):
    repo = make_repo(tmp_path / "repo")
    image = write_image(tmp_path / "app.mpb", [key_dir(repo.dir) / "targets.pem"], version="2.0.0")
    publish_mod.publish(repo, keyring(repo), image, "stable")
    dev = tls.ensure_dev_tls(tmp_path / "tls")
    lines = []
    with serve.start_server(repo.dir, ssl_context=tls.server_context(dev), timeout=20, log=lines.append) as server:
        yield repo, image, dev, server, lines


def test_ngclient_refreshes_and_downloads_over_https(served, tmp_path):
    repo, image, dev, server, lines = served
    root = (repo.dir / "metadata" / "1.root.json").read_bytes()
    base = "https://localhost:%d/" % server.port
    u = updater(tmp_path / "client", root, base, CAFetcher(dev.ca_cert))
    u.refresh()
    info = u.get_targetinfo("esp32-4mb/stable/2.0.0.mpb")
    assert info.custom["version"] == "2.0.0"
    path = u.download_target(info)
    assert open(path, "rb").read() == image.read_bytes()
    requested = [line.split()[3] for line in lines]
    assert requested == ["/metadata/2.root.json", "/metadata/timestamp.json", "/metadata/2.snapshot.json",
                         "/metadata/2.targets.json", "/targets/esp32-4mb/stable/%s.2.0.0.mpb" % info.hashes["sha256"]]
    assert [line.split()[4] for line in lines] == ["404", "200", "200", "200", "200"]
    # The next day's cron run is picked up by the same client.
    maintain.refresh_timestamp(repo, keyring(repo))
    u2 = updater(tmp_path / "client", None, base, CAFetcher(dev.ca_cert))
    u2.refresh()
    assert u2._trusted_set.timestamp.version == 3


def test_wrong_hostname_fails(served, tmp_path):
    repo, _, dev, server, _ = served
    root = (repo.dir / "metadata" / "1.root.json").read_bytes()
    u = updater(tmp_path / "client", root, "https://127.0.0.1:%d/" % server.port, CAFetcher(dev.ca_cert, hostname="updates.example.com"))
    with pytest.raises(DownloadError) as e:
        u.refresh()
    assert isinstance(e.value.__cause__, urllib3.exceptions.SSLError)
    assert "updates.example.com" in str(e.value.__cause__)


def test_server_certificate_from_another_ca_fails(served, tmp_path):
    repo, _, _, server, _ = served
    other = tls.ensure_dev_tls(tmp_path / "other")
    root = (repo.dir / "metadata" / "1.root.json").read_bytes()
    u = updater(tmp_path / "client", root, "https://127.0.0.1:%d/" % server.port, CAFetcher(other.ca_cert))
    with pytest.raises(DownloadError) as e:
        u.refresh()
    assert isinstance(e.value.__cause__, urllib3.exceptions.SSLError)
    assert "certificate verify failed" in str(e.value.__cause__)
