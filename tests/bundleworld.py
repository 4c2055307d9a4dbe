"""The OTA world of tests/otaworld.py with an application bundle: the emulated esp32-4mb board
provisioned with bundle `app` v1.0.0 installed (copy a, its kept manifest, the pointer `a`), and
the repository publishing newer versions of it (the manifest as a TUF target, every file under
files/sha256/<hex>, as `mpboot publish` does for a .mpbundle).

The application: `app:run` prints its version, then runs the update check as otaworld's main.py
does (module appota), so each boot that runs the application says which version ran and what
the check did.

    w = BundleWorld(tmp_path, runtime)
    w.publish_bundle("2.0.0", {"version.py": b"VERSION = '2.0.0'\\n"})
    w.boot()            # checks, installs the bundle into copy b (outcome as check() says)
    w.boot()            # the trial of copy b: "app: 2.0.0"
"""

import hashlib
import json
import random

import pytest

from emuboard import board_runtime
from mpboot import bundle as hostbundle, keys as keymod
from mpboot.emulator import vfs
from mpboot.repo import layout
from mpboot_fw import bundle, trust
from mpboot.repo.publish import publish
from otaworld import BOARD, MAIN, World

NAME = "app"
DIR = "esp32-4mb/stable/"
APP = """import version


def run():
    print("app:", version.VERSION)
    import appota
"""
# Data the application carries that no update changes: what a one-file change does not download.
DATA = random.Random(10).randbytes(24000)


def app_files(version, changes=None, check=True, data=DATA):
    """{path: bytes} of the application at `version` (changes: {path: bytes} over it); without
    `check` the application runs no update check (appota.py is empty); `data`: lib/data.bin."""
    files = {"app.py": APP.encode(), "appota.py": MAIN.encode() if check else b"", "lib/data.bin": data,
             "version.py": ("VERSION = %r\n" % version).encode()}
    files.update(changes or {})
    return files


class BundleWorld(World):
    def __init__(self, tmp_path, runtime, version="1.0.0", security_version=1, check=True, data=DATA, package=False,
                 **kw):
        """check: the application runs the update check when it starts (else a test drives it,
        as the memory test does); data: the bytes of its lib/data.bin; package: the device
        package installed as the bundle "mpboot" 1.0.0 (compiled, as provisioning writes it)
        instead of in /lib."""
        self.bundles = {}  # version -> (bundle bytes, files)
        self.check = check
        self.data = data
        files = kw.pop("files", {})
        # The repository is made by World.__init__: the first bundle is signed after it, below,
        # and written into the filesystem as provisioning would.
        super().__init__(tmp_path, runtime, files=dict({"/main.py": self.starter(check)}, **files), **kw)
        installed = self.layout(NAME, *self.bundle(version, security_version=security_version)[1:])
        drop = None
        if package:
            installed.update(self.layout(bundle.DEVICE_PACKAGE, *self.package("1.0.0")[1:]))
            drop = "/lib/mpboot_fw/"
        self.write_files(installed, drop)

    @staticmethod
    def layout(name, manifest, files):
        """{path: bytes} of a bundle installed and confirmed in copy a, as provisioning writes it."""
        out = {"/bundles/%s/a/%s" % (name, p): d for p, d in files.items()}
        out["/bundles/%s/a.mpbm" % name] = manifest
        out["/bundles/%s/boot" % name] = b"a"
        return out

    @staticmethod
    def starter(check=True):
        """/main.py: the fixed starter (firmware/main.py) when the tree has it, which starts the
        application bundle's entry point."""
        from pathlib import Path

        starter = Path(__file__).resolve().parents[1] / "firmware" / "main.py"
        return starter.read_text() if starter.exists() else MAIN if check else ""

    # -- bundles ---------------------------------------------------------------------------------
    def package(self, version, changes=None):
        """The device package as the bundle "mpboot" at `version` (bundleboard.package_files:
        compiled for the board; `changes` over it): as bundle()."""
        from bundleboard import package_files
        from mpboot import mpycross

        return self.bundle(version, name=bundle.DEVICE_PACKAGE, files=package_files(changes), entry=None,
                           chip_id=BOARD.chip_id, mpy=mpycross.DEFAULT.major)

    def bundle(self, version, changes=None, security_version=1, files=None, name=NAME, **fields):
        """(bundle bytes, manifest bytes, {path: bytes}) of `name` (default: the application) at
        `version`, signed by the repository's targets keys (host mpboot.bundle.build, so the
        device's checks pass)."""
        files = files or app_files(version, changes, self.check, self.data)
        keys = [keymod.load_private_key(self.keys / k) for k in self._key_files(self.repo(), "targets")]
        anchor = trust.load_root(self.metadata("%d.root.json" % self.repo().root.version).read_bytes())
        fields.setdefault("board", BOARD.name)
        fields.setdefault("entry", "app:run")
        data, _ = hostbundle.build(files, keys, anchor, name=name, version=version,
                                   security_version=security_version, **fields)
        length = int.from_bytes(data[8:12], "little")
        manifest = data[bundle.HEADER_SIZE:bundle.HEADER_SIZE + length]
        self.bundles[version] = (data, files)
        return data, manifest, files

    def publish_bundle(self, version, changes=None, security_version=1, data=None, **fields):
        """Publish `app` at `version` (or the bundle bytes `data`) with the real `mpboot
        publish` (mpboot.repo.publish): the manifest as the target DIR/NAME-VERSION.mpbm, each
        file under files/sha256/. Returns the bundle bytes."""
        if data is None:
            data = self.bundle(version, changes, security_version, **fields)[0]
        path = self.tmp / ("bundle-%d.mpbundle" % len(list(self.tmp.glob("bundle-*.mpbundle"))))
        path.write_bytes(data)
        repo = self.repo()
        publish(repo, self.keyring(repo), path, "stable")
        if hasattr(self.server, "files"):
            self.serve_files()
        return data

    def publish_manifest(self, manifest, files, version, security_version=1, custom=None, **forge):
        """List `manifest` as the target for `version` (custom fields as publish writes them,
        or `custom` over them) and store `files`; by hand (World.forge), so a test can publish
        what `mpboot publish` would refuse."""
        fields = {"bundle": NAME, "channel": "stable", "board": BOARD.name, "chip_id": None, "version": version,
                  "security_version": security_version, "mpy": None, "min_firmware": None,
                  "files": len(files), "total": sum(len(d) for d in files.values())}
        fields.update(custom or {})
        self.store_files(files.values())
        encoded = self.forge(add=[(DIR + "%s-%s.mpbm" % (NAME, version), manifest, fields)], **forge)
        if hasattr(self.server, "files"):
            self.serve_files()
        return encoded

    def store_files(self, datas):
        for d in datas:
            path = self.repo_dir / "files" / "sha256" / hashlib.sha256(d).hexdigest()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(d)

    def serve_files(self):
        """The fixture server's files: the repository as it is now, files/ included."""
        super().serve_files()
        for p in (self.repo_dir / "files").rglob("*"):
            if p.is_file():
                self.server.files["/" + p.relative_to(self.repo_dir).as_posix()] = p.read_bytes()

    def file_url(self, data):
        return "/files/sha256/" + hashlib.sha256(data).hexdigest()

    # -- the device's filesystem ------------------------------------------------------------------
    def _vfs(self):
        return BOARD.partition("vfs")

    def read_files(self):
        """{path: bytes} of the board's filesystem now."""
        part = self._vfs()
        fs = vfs.mount(bytearray(self.flash.read(part.offset, part.size)))
        try:
            return vfs.read_files(fs)[1]
        finally:
            fs.unmount()

    def write_files(self, files, drop=None):
        """Add `files` ({"/path": bytes}) to the board's filesystem (provisioning, by hand), after
        removing the files under `drop` (a directory path ending in "/")."""
        part = self._vfs()
        data = bytearray(self.flash.read(part.offset, part.size))
        fs = vfs.mount(data)
        try:
            if drop is not None:
                for path in vfs.read_files(fs)[1]:
                    if path.startswith(drop):
                        fs.remove(path)
            for path in sorted(files):
                vfs._makedirs(fs, path.rsplit("/", 1)[0])
                with fs.open(path, "wb") as f:
                    f.write(files[path])
        finally:
            fs.unmount()
        self.flash.load(part.offset, bytes(data))
        self.flash.reset_log()

    def pointer(self):
        return self.read_files()["/bundles/%s/boot" % NAME].decode()

    def copy(self, name):
        """{path: bytes} of copy `name` of the app bundle."""
        prefix = "/bundles/%s/%s/" % (NAME, name)
        return {p[len(prefix):]: d for p, d in self.read_files().items() if p.startswith(prefix)}

    def bundle_events(self):
        return [e[1:] for e in self.state().events() if e[1].startswith("ota-") or e[1].startswith("bundle-")
                or e[1] == "installed"]


def app_version(record):
    lines = [line for line in record.output if line.startswith("app:")]
    return lines[-1].split()[-1] if lines else None


@pytest.fixture
def bundle_world(tmp_path):
    w = BundleWorld(tmp_path, board_runtime())
    yield w
    w.close()


@pytest.fixture
def bundle_fixture_world(tmp_path):
    w = BundleWorld(tmp_path, board_runtime(), fixture_server=True)
    yield w
    w.close()


def output(record):
    return json.dumps(record.output, indent=1)
