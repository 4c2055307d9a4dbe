"""A fresh SoftHSM2 token per test: its own softhsm2.conf and token directory under tmp_path, so
tests are independent and nothing of the machine's own SoftHSM2 set-up is read or changed.

SoftHSM2 is a real PKCS#11 implementation (Debian's softhsm2 package; .ci/run installs it). A
test that needs it FAILS when it is missing, naming the fix: a skipped token test would pass
in CI while proving nothing.
"""

import gc
import os
import shutil
import subprocess

import pytest

from mpboot import hsm

PIN = "246810"
SO_PIN = "13579111"
LABEL = "mpboot-test"


class SoftToken:
    def __init__(self, directory, label):
        self.dir = directory
        self.label = label
        self.pin = PIN
        self.module = next(p for p in hsm.SOFTHSM2_MODULES if os.path.exists(p))

    def uri(self, obj, **query):
        text = "pkcs11:token=%s;object=%s" % (self.label, obj)
        return text + ("?" + "&".join("%s=%s" % kv for kv in query.items()) if query else "")

    def session(self):
        """A PyKCS11 session of our own, logged in: the tests look at the token without mpboot.hsm."""
        import PyKCS11

        lib = PyKCS11.PyKCS11Lib().load(self.module)
        slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == self.label)
        session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        try:
            session.login(self.pin)
        except PyKCS11.PyKCS11Error as e:  # a session of mpboot's not yet collected is logged in
            if e.value != PyKCS11.CKR_USER_ALREADY_LOGGED_IN:
                raise
        session.keep_lib = lib  # the module stays loaded as long as the session is used
        return session


def require_softhsm2():
    missing = [what for what, ok in (
        ("softhsm2-util", shutil.which("softhsm2-util")),
        ("libsofthsm2.so", any(os.path.exists(p) for p in hsm.SOFTHSM2_MODULES))) if not ok]
    if missing:
        pytest.fail("SoftHSM2 is not installed (%s missing): apt-get install softhsm2 (.ci/run does)" % ", ".join(missing))


def make_token(tmp_path, monkeypatch, label=LABEL):
    require_softhsm2()
    directory = tmp_path / "softhsm"
    (directory / "tokens").mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n" % (directory / "tokens"))
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    monkeypatch.setenv(hsm.PIN_ENV, PIN)
    monkeypatch.delenv(hsm.MODULE_ENV, raising=False)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
                   check=True, capture_output=True, env=os.environ.copy())
    # SoftHSM2 reads SOFTHSM2_CONF and its token directory when the module is initialised: a
    # module still loaded by an earlier test's keys (a failed test's traceback holds them)
    # would know only that test's tokens, so it is initialised again, after the new token is made.
    gc.collect()
    import PyKCS11

    for entry in PyKCS11.PyKCS11Lib._loaded_libs.values():
        entry["ref"].C_Finalize()
        entry["ref"].C_Initialize()
    return SoftToken(directory, label)


@pytest.fixture
def token(tmp_path, monkeypatch):
    return make_token(tmp_path, monkeypatch)
