"""The OTA test world: a real update repository (`mpboot repo init` / `publish`), served by the
real `mpboot serve` over HTTPS on 127.0.0.1 with its development CA, and an emulated esp32-4mb
board (real MicroPython, the NOR flash model, the emulated bootloader) provisioned like a
device: boot stage, device package, /mpboot.json, /mpboot-ota.json, the CA, v1.0.0 in ota_0 and
the repository's root in the state partition. Its network is emulator/net.py: real TCP and TLS.

main.py asks the host (a test service, "test.params") for the check's parameters, so a test can
set the device clock for one boot without rewriting files:

    w = World(tmp_path, micropython)
    w.publish("2.0.0")
    w.boot()            # checks, downloads, installs: outcome "reset"
    w.boot()            # trial boot, confirmed; checks again: current
"""

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tuf.api.metadata import TargetFile

from emuboard import board_runtime, new_flash
from https_fixtures import HttpsServer, make_pki
from bundleboard import package_files
from mpboot import boards, bundle as hostbundle, keys as keymod, mpycross, provision, serve, tls
from mpboot.repo import layout
from mpboot.repo.publish import custom_fields
from mpboot.repo.store import meta_file
from mpboot_fw.blockdev import BytesDevice
from mpboot_fw.image import read_manifest
from mpboot.emulator.board import Board
from mpboot.emulator.net import NetHandler
from mpboot.emulator.partition import FlashPartition
from mpboot.repo.keyring import KeyRing
from mpboot.repo.maintain import rotate
from mpboot.repo.publish import publish
from mpboot.repo.store import Repository
from mpboot.repo.create import init_repository
from mpboot.otaprovision import ota_files
from mpboot_fw import bundle, otaconfig, statelog, trust
from repotest import key_dir, signed_image

BOARD = boards.load_board("esp32-4mb")

MAIN = r"""
import json, _host
from mpboot_fw import updater
p = json.loads(_host.call("test.params", None, 0, 0, 0))
clock = None if p.get("clock") is None else (lambda: p["clock"])
seen = []
progress = (lambda done, total: seen.append((done, total))) if p.get("progress") else None
try:
    print("ota:", updater.check(reset=p.get("reset", True), clock=clock, options=p.get("options"), progress=progress))
except updater.UpdateError as e:
    print("ota-failed:", e.code, e.reason, e.detail)
if seen:
    print("progress:", len(seen), seen[0][0], seen[-1][0], seen[-1][1])
print("status:", json.dumps(updater.status(clock=clock)))
"""


class World:
    def __init__(self, tmp_path, micropython, ota=None, files=None, board_version="1.0.0", security_version=1,
                 fixture_server=False, thresholds=None, client_auth=False, client_cert=False, token=None,
                 mpy=None, board=BOARD, package=False):
        """fixture_server: serve the repository with tests/https_fixtures.HttpsServer (its own CA),
        whose `plan` scripts misbehaviour per request, instead of `mpboot serve`. client_auth:
        `mpboot serve` accepts only clients with a certificate from its CA; client_cert: the
        device is given one (mpboot.otaprovision's files). token: the bearer token the device
        sends (the fixture server checks it when its `token` is set). mpy: the mpycross.Version
        to compile the device package for, as `mpboot provision` does (None: source). board: the
        boards.Board. package: the device package as the bundle "mpboot" (.mpy, signed by the
        repository's targets key) instead of /lib/mpboot_fw: on a board with a romfs partition,
        provisioning puts its copy there too (flashimage.romfs_image)."""
        self.tmp = Path(tmp_path)
        self.repo_dir = self.tmp / "repo"
        init_repository(self.repo_dir, thresholds=thresholds)
        self.keys = key_dir(self.repo_dir)
        self.access = []
        self.spec = board
        if fixture_server:
            (self.tmp / "pki").mkdir()
            pki = make_pki(self.tmp / "pki")
            self.ca = pki.ca_pem.read_bytes()
            self.server = HttpsServer(pki, {})
        else:
            dev = tls.ensure_dev_tls(self.tmp / "tls")
            self.ca = dev.ca_cert.read_bytes()
            context = tls.server_context(dev, client_ca=dev.ca_cert if client_auth else None)
            self.server = serve.start_server(self.repo_dir, ssl_context=context, log=self.access.append)
        self.params = {}
        self.v1 = self.image(board_version, security_version)
        self.publish_image(self.v1)
        client = {}
        if client_cert:
            client = dict(cert=self.tmp / "device.pem", key=self.tmp / "device.key")
            tls.issue_client_cert(dev, "device-0001", client["cert"], client["key"])
        device = ota_files(self.url, self.tmp / ("pki/ca.pem" if fixture_server else "tls/ca.pem"), token=token, **client)
        ota_doc = json.loads(device[otaconfig.PATH])
        ota_doc.update({"timeout_ms": 3000, "min_rate": 256}, **(ota or {}))
        device.update({"/main.py": MAIN, otaconfig.PATH: json.dumps(ota_doc)})
        device.update(files or {})
        bundled = {}
        if package:
            anchor = trust.load_root((self.repo_dir / "metadata" / "root.json").read_bytes())
            bundled = dict(package=("mpboot.mpbundle", self.package_bundle("1.0.0")), root=anchor)
            main = device.pop("/main.py")
        laid = provision.device_files(board, device, mpy=mpy, **bundled)
        if package:
            laid["/main.py"] = main.encode()  # the application: this script, not the starter of a bundle's
        self.flash = new_flash(laid, board=board.name, slots={0: self.v1})
        self.root = (self.repo_dir / "metadata" / "1.root.json").read_bytes()
        statelog.format_partition(self.state_partition(), self.root)
        self.flash.reset_log()
        if fixture_server:
            self.serve_files()
        self.runtime = micropython
        self.net = NetHandler()
        self.use_flash(self.flash)

    def package_bundle(self, version, changes=None):
        """The device package (bundleboard.package_files, `changes` over it) as the bundle
        "mpboot" at `version` for this board, signed by the repository's targets keys."""
        anchor = trust.load_root((self.repo_dir / "metadata" / "root.json").read_bytes())
        private = [keymod.load_private_key(self.keys / k) for k in self._key_files(self.repo(), "targets")]
        return hostbundle.build(package_files(changes), private, anchor, name=bundle.DEVICE_PACKAGE, version=version,
                                security_version=1, board=self.spec.name, chip_id=self.spec.chip_id,
                                mpy=mpycross.DEFAULT.major, entry=None)[0]

    def use_flash(self, flash):
        """Run the device on `flash` (a NorFlash) from now on: a fresh board, powered on."""
        self.flash = flash
        self.board = Board(flash, self.spec, runtime=self.runtime, run_timeout=120,
                           services={"net": self.net, "test": self._test_service})

    @property
    def url(self):
        return "https://localhost:%d/" % self.server.port

    def close(self):
        self.net.close()
        self.server.stop()

    def serve_files(self):
        """The fixture server's files: the repository as it is now."""
        self.server.files = {"/" + p.relative_to(self.repo_dir).as_posix(): p.read_bytes()
                             for d in (layout.METADATA, layout.TARGETS) for p in (self.repo_dir / d).rglob("*")
                             if p.is_file()}

    # -- the repository -------------------------------------------------------------------------
    def repo(self):
        return Repository(self.repo_dir)

    def keyring(self, repo=None, given=None):
        repo = repo or self.repo()
        return KeyRing(repo.dir, repo.settings, given)

    def image(self, version, security_version=1, board=None, chip_id=0, keys=None, seed=None):
        """A signed image (for the world's board unless `board` names another); keys: key file
        names in the key directory (default: every key the repository has for targets)."""
        keys = keys or self._key_files(self.repo(), "targets")
        return signed_image([self.keys / k for k in keys], version=version, security_version=security_version,
                            board=board or self.spec.name, chip_id=chip_id, seed=seed or sum(map(ord, version)))

    def publish_image(self, data, channel="stable", **kw):
        path = self.tmp / ("image-%d.mpb" % len(list(self.tmp.glob("image-*.mpb"))))
        path.write_bytes(data)
        repo = self.repo()
        return publish(repo, self.keyring(repo), path, channel, **kw)

    def publish(self, version, security_version=1, **kw):
        data = self.image(version, security_version)
        self.publish_image(data, **kw)
        return data

    def metadata(self, name):
        return self.repo_dir / "metadata" / name

    def forge(self, add=(), keys=None, expires=None, role="targets"):
        """Write new `role` (top-level targets, or a delegated targets role), snapshot and
        timestamp versions by hand with python-tuf, skipping every check `mpboot publish` makes:
        what whoever holds the given keys can serve. add: [(target path, image bytes, custom
        fields or None)], listed by `role`; keys: {role: [key file names in the key directory]}
        (default: the repository's own for each role)."""
        repo = self.repo()
        now = datetime.now(timezone.utc).replace(microsecond=0)
        new = {}
        for name in (role, "snapshot", "timestamp"):
            md = copy.deepcopy(repo.metadata[name])
            md.signatures.clear()
            md.signed.version += 1
            md.signed.expires = expires or now + timedelta(days=1)
            new[name] = md
        for path, data, custom in add:
            target = TargetFile.from_data(path, data, ["sha256"])
            target.unrecognized_fields["custom"] = custom or custom_fields(read_manifest(BytesDevice(data)), "stable")
            new[role].signed.targets[path] = target
            file = layout.target_file(self.repo_dir, path, target.hashes["sha256"])
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(data)
        encoded = {}
        for name in (role, "snapshot", "timestamp"):
            md = new[name]
            if name == "snapshot":
                md.signed.meta["%s.json" % role] = meta_file(encoded[role], new[role].signed.version)
            elif name == "timestamp":
                md.signed.snapshot_meta = meta_file(encoded["snapshot"], new["snapshot"].signed.version)
            for key in (keys or {}).get(name) or self._key_files(repo, name):
                md.sign(keymod.tuf_signer(keymod.load_private_key(self.keys / key)), append=True)
            encoded[name] = layout.encode(md)
        self.metadata("%d.%s.json" % (new[role].signed.version, role)).write_bytes(encoded[role])
        self.metadata("%d.snapshot.json" % new["snapshot"].signed.version).write_bytes(encoded["snapshot"])
        self.metadata("timestamp.json").write_bytes(encoded["timestamp"])
        return encoded

    def add_key(self, role, name, replace=False):
        """Generate key `name` in the key directory and publish a new root that adds it to
        `role`'s keys (`replace`: instead of the role's first key, `role`.pem)."""
        path = self.keys / name
        keymod.generate_keypair(path)
        repo = self.repo()
        remove = [str(self.keys / (role + ".pem"))] if replace else ()
        # force: replacing the targets key strands the images signed by it, as the tests intend
        rotate(repo, self.keyring(repo), role, add=[str(path)], remove=remove, force=True)

    def _key_files(self, repo, role):
        return [p.name for p in repo.settings.key_paths(self.repo_dir, role).values()]

    # -- the device -----------------------------------------------------------------------------
    def _test_service(self, op, arg, body, n):
        return json.dumps(self.params)

    def boot(self, repl=None, **params):
        """One boot with these check parameters (clock, reset, options); `repl`: as Board.boot."""
        self.params = params
        record = self.board.boot(repl=repl)
        self.net.close()
        return record

    def state_partition(self):
        state = self.spec.partition(boards.STATE_PARTITION)
        return FlashPartition(self.flash, state.offset, state.size)

    def state(self):
        return statelog.load(self.state_partition())

    def events(self, since=0):
        return [e for e in list(self.state().events())[since:]]

    def ota_events(self):
        return [e[1:] for e in self.state().events() if e[1].startswith("ota-") or e[1] == "installed"]

    def running(self, record):
        return record.slot, record.app["version"] if record.app else None


@pytest.fixture
def world(tmp_path):
    """A World served by `mpboot serve`, on the tests' board runtime (emuboard.board_runtime)."""
    w = World(tmp_path, board_runtime())
    yield w
    w.close()


@pytest.fixture
def fixture_world(tmp_path):
    """A World served by the scriptable misbehaving server."""
    w = World(tmp_path, board_runtime(), fixture_server=True)
    yield w
    w.close()


def output_line(record, prefix):
    lines = [line for line in record.output if line.startswith(prefix)]
    assert lines, "\n".join(record.output)
    return lines[-1][len(prefix):].strip()


def status(record):
    return json.loads(output_line(record, "status:"))
