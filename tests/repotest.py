"""Helpers for the repository tests: signed images and bundles, python-tuf ngclient fetchers, file snapshots."""

import itertools
from pathlib import Path

import urllib3
from tuf.api import exceptions
from tuf.ngclient import FetcherInterface, Updater

import appbuilder  # tests/device, on sys.path via conftest
from mpboot import bundle as hostbundle, keys, signing
from mpboot.repo.create import init_repository
from mpboot.repo.keyring import KeyRing
from mpboot.repo.store import Repository
from mpboot_fw import trust

BUNDLE_FILES = {"main.py": b"import lib\nprint('app', lib.V)\n", "lib.py": b"V = '1.0.0'\n", "data.bin": bytes(range(256)) * 4}
_made = itertools.count()


def run_cli(capsys, *argv):
    """`mpboot ARGV...` in this process: (exit status, stdout, stderr)."""
    from mpboot.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def make_repo(path, **kwargs):
    init_repository(path, **kwargs)
    return Repository(path)


def keyring(repo, given=None, passphrase=None):
    return KeyRing(repo.dir, repo.settings, given, passphrase)


def key_dir(repo_path):
    return Path(str(Path(repo_path).resolve()) + "-keys")


def signed_image(key_files, version="1.0.0", security_version=1, board="esp32-4mb", chip_id=0, seed=1):
    app = appbuilder.build(version=version, chip_id=chip_id, seed=seed)
    private = [keys.load_private_key(p) for p in key_files]
    return signing.sign_app(app, private, version, security_version, chip_id, board=board, created=1767225600)


def write_image(path, key_files, **kwargs):
    Path(path).write_bytes(signed_image(key_files, **kwargs))
    return path


def make_bundle(repo, tmp_path, version="1.0.0", security_version=1, name="app", board="esp32-4mb", chip_id=0,
                files=None, key="targets.pem", mpy=None, min_firmware=None):
    """A .mpbundle signed by the key file `key` of the repository's key directory, as `mpboot
    bundle` writes it (checked by the device's verifier against the repository's root when `key`
    is the targets key; any other key's bundle is packed unchecked, for refusals)."""
    private = [keys.load_private_key(key_dir(repo.dir) / key)]
    fields = dict(name=name, version=version, security_version=security_version, board=board, chip_id=chip_id,
                  mpy=mpy, min_firmware=min_firmware, entry="main")
    files = dict(BUNDLE_FILES if files is None else files)
    if key == "targets.pem":
        anchor = trust.load_root((repo.dir / "metadata" / "root.json").read_bytes())
        data, _ = hostbundle.build(files, private, anchor, **fields)
    else:
        data = hostbundle.pack(hostbundle.manifest(files=files, **fields), private, files)
    path = tmp_path / ("%s-%s-%d.mpbundle" % (name, version, next(_made)))  # never one that a later call replaces
    path.write_bytes(data)
    return path


def device_fetch(repo_dir):
    """A device TUF client's fetch (mpboot_fw.tufclient) reading the repository's metadata/
    directory: None for a missing file, and the cap it is given asserted."""
    def fetch(path, max_length):
        try:
            data = (Path(repo_dir) / "metadata" / path).read_bytes()
        except FileNotFoundError:
            return None
        assert len(data) <= max_length, path
        return data

    return fetch


def tree(path):
    """Every file under `path` with its bytes: compare before and after to prove nothing changed."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


class DirFetcher(FetcherInterface):
    """Serves a repository directory to python-tuf's ngclient without a network (URL path ->
    file), for tests that only care about the metadata; the HTTPS tests use the real server."""

    def __init__(self, repo_dir):
        self.repo_dir = Path(repo_dir)
        self.fetched = []

    def _fetch(self, url):
        rel = url.split("://", 1)[1].split("/", 1)[1]
        self.fetched.append(rel)
        try:
            return iter([(self.repo_dir / rel).read_bytes()])
        except FileNotFoundError:
            raise exceptions.DownloadHTTPError("not found", 404) from None


class CAFetcher(FetcherInterface):
    """HTTPS with certificates checked against one CA, and the host name against `hostname`
    (default: the URL's host), as a device does."""

    def __init__(self, ca_cert, hostname=None):
        self.pool = urllib3.PoolManager(ca_certs=str(ca_cert), cert_reqs="CERT_REQUIRED", assert_hostname=hostname, retries=False)

    def _fetch(self, url):
        r = self.pool.request("GET", url, preload_content=False, timeout=urllib3.Timeout(20))
        if r.status >= 400:
            r.close()
            raise exceptions.DownloadHTTPError("HTTP %d" % r.status, r.status)
        return r.stream(65536)


def updater(client_dir, root_bytes, base_url, fetcher):
    client_dir = Path(client_dir)
    (client_dir / "metadata").mkdir(parents=True, exist_ok=True)
    (client_dir / "targets").mkdir(exist_ok=True)
    return Updater(str(client_dir / "metadata"), base_url + "metadata/", str(client_dir / "targets"), base_url + "targets/",
                   fetcher=fetcher, bootstrap=root_bytes)
