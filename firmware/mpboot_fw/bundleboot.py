"""Bundles at boot: which copy of each installed bundle runs, its trial, and the application's start.

The boot stage (stage.py) drives it, in this order (docs/loader.md, "In the stage"):

    b = Boot(ctx, log, buf)
    b.own(firmware_pending)  # first: the bundle "mpboot", the package running this code
    ...                      # the firmware decision; its health check calls b.load() first
    b.load()                 # every other bundle: verified, held back, put on sys.path
    b.trial(health)          # on a normal firmware boot: at most one bundle trial, confirmed
    b.choose()               # the entry of the application bundle /main.py starts

Each bundle NAME has two copies, /bundles/NAME/a and /b, and a pointer (bundlestore) naming the
confirmed copy and maybe a new one on trial. What runs is always a copy that verified in this
boot: load_copy checks its kept manifest (signatures to the root's threshold, name, chip, board,
.mpy version, firmware version, the bundle's floor) and, under every-boot and on trials and
switches, every file's size and SHA-256 and that nothing else is in the copy. What fails is held
back: the other copy runs if it verifies fully (bundle-switched), else nothing of the bundle
runs (bundle-refused; bundle-held when it only does not fit this firmware: wrong-mpy,
needs-firmware). Those two are logged once per change, not on every boot: the ring keeps 32
events.

A trial (pointer "X Y"): "X Y try" is written before anything of Y is read as code, Y is
verified (files too) and logged bundle-verified, put on sys.path in X's place, the module of
a "module:function" entry imported (a plain "module" entry would start the application: not
imported), the configured health hook called under the watchdog; then confirmed: pointer
"Y", raise_bundle_floor, bundle-confirmed. Any failure: bundle-trial-failed, Y's kept manifest
removed (a failed copy is never switched to: it cannot verify), pointer "X", reset. A boot that
finds "X Y try" it did not write (reset, watchdog, power cut mid-trial) or "X Y failed REASON"
(the fixed loader's verdict on a copy of mpboot) logs bundle-rolled-back and does the same
without the reset. For "mpboot" the loader writes "try" and runs Y's code; this module knows
it by mpboot_fw.__file__ and finishes that trial: verified first thing, confirmed last, after
the firmware decision and the health hook.
"""

import sys

from mpboot_fw import bundle, bundlestore

MPBOOT = bundle.DEVICE_PACKAGE
ROM, ROM_LABEL = "/rom", "romfs"  # where a ROMFS firmware mounts the partition it maps (esp32_partition.c)
# Reasons that say the bundle does not fit the running firmware, not that it is bad.
_HELD = ("wrong-mpy", "needs-firmware")


class _Copy:
    """What a verified copy leaves for the rest of the boot (not the manifest: RAM)."""

    def __init__(self, copy, b):
        self.copy, self.version, self.security_version, self.entry = copy, b.version, b.security_version, b.entry


class Boot:
    def __init__(self, ctx, log, buf=None):
        self.ctx = ctx
        self.log = log  # log(code, reason, detail): the stage's (prints, then the state log)
        self.buf = buf
        # Before any copy is verified (and the firmware's image, between own() and load()): the
        # one block every kept manifest is read into, so none needs 8 KiB in one piece later.
        self.documents = bundle.manifest_buffer()
        self.runs = {}  # name -> _Copy on sys.path (verified in this boot)
        self.pending = None  # (name, pointer, _Copy or None): the trial this boot may run
        self.loaded = False
        self.why = None

    # -- mpboot: the package running this code ------------------------------------------------
    def own(self, firmware_pending):
        """Settle the bundle "mpboot" first. False: the package running is not verified, hold
        the application back (self.why); may reset (a switch, a failed trial)."""
        here = running_copy()
        if MPBOOT not in bundlestore.installed():
            return True
        p = self._pointer(MPBOOT)
        if p is None:
            c = self._scan(MPBOOT)
            if c is not None and c.copy != here and here is not None:
                _reset()  # the loader runs the copy the pointer names now
            return self._runs(MPBOOT, c) or here is None
        if p.mark == "try" and p.trial == here:  # the loader started this trial in this boot
            c = self._verify_trial(MPBOOT, p)
            if firmware_pending:
                # Never two trials at once: the firmware's runs (with this verified copy's code),
                # and the loader starts this one again on the next boot.
                bundlestore.write_pointer(MPBOOT, p.active, p.trial)
                print("mpboot: bundle mpboot %s %s: its trial waits for the firmware's" % (c.version, c.copy))
            else:
                self.pending = (MPBOOT, p, c)
            return self._runs(MPBOOT, c)
        p = self._settle_marks(MPBOOT, p)
        if here is None:  # /lib, as before bundles ("-": nothing of the bundle runs)
            return True
        if p.active != here:
            # The loader found the confirmed copy damaged and started the other one.
            c = self._verify(MPBOOT, here, True)
            if not isinstance(c, _Copy):
                return self._refuse(MPBOOT, here, c)
            bundlestore.write_pointer(MPBOOT, here)
            self.log("bundle-switched", "bad-copy", MPBOOT + " " + here)
            return self._runs(MPBOOT, c)
        c = self._active(MPBOOT, p)
        if c is not None and c.copy != here:
            _reset()  # switched: the loader runs the other copy
        return self._runs(MPBOOT, c)

    # -- every other bundle -------------------------------------------------------------------
    def load(self):
        """Verify every other installed bundle's copy and put it on sys.path ahead of /lib (once
        per boot: before a firmware health check, which may import its hook from a bundle)."""
        if self.loaded:
            return
        self.loaded = True
        for name in bundlestore.installed():
            if name == MPBOOT:
                continue
            p = self._pointer(name)
            if p is None:
                self._runs(name, self._scan(name))
                continue
            p = self._settle_marks(name, p)
            self._runs(name, self._active(name, p))
            if p.trial is not None and self.pending is None:
                self.pending = (name, p, None)

    def trial(self, health):
        """Run this boot's bundle trial, if one is pending (on a normal firmware boot only: the
        stage calls it then). `health()`: the stage's health check under its watchdog, raising
        on failure. Returns True when a trial was confirmed (the stage then resets if a
        watchdog runs); a failed trial resets."""
        if self.pending is None:
            return False
        name, p, c = self.pending
        self.pending = None
        if c is None:  # an application bundle: this stage starts its trial
            bundlestore.write_pointer(name, p.active, p.trial, "try")
            c = self._verify_trial(name, p)
            old = self.runs.pop(name, None)
            if old is not None:
                sys.path.remove(bundlestore.copy_dir(name, old.copy))
            self._runs(name, c)
        where = "%s %s %s" % (name, c.version, c.copy)
        try:
            # "module:function": the module is imported, the function not called. A plain
            # "module" runs when imported: importing it here would start the application
            # inside the trial, so its trial is the health hook alone.
            if c.entry is not None and ":" in c.entry:
                __import__(c.entry.split(":")[0])
        except Exception as e:
            self._fail(name, p, "import-error", where, e)
        try:
            health()
        except Exception as e:  # the stage's HealthError says health-failed or health-error
            self._fail(name, p, getattr(e, "reason", "health-error"), where, e)
        bundlestore.write_pointer(name, c.copy)
        self.ctx.state.raise_bundle_floor(name, c.security_version)
        self.log("bundle-confirmed", "", where)
        return True

    def choose(self):
        """The application bundle main.py starts: config "app" if set, else the one bundle
        (not mpboot) with an entry point; none when several have one and "app" is not set.
        Returns its entry point, or None."""
        apps = [n for n in sorted(self.runs) if n != MPBOOT and self.runs[n].entry is not None]
        want = self.ctx.cfg.app
        if want is None and len(apps) > 1:
            self._once("bad-config", "app: several bundles have an entry point, set app to one", None)
        if want is None and len(apps) == 1:
            want = apps[0]
        entry = self.runs[want].entry if want in apps else None
        if want is not None and entry is None:
            print("mpboot: application bundle %s does not run in this boot" % want)
        return entry

    def romfs_target(self):
        """(the romfs partition, mpboot's copy to write into it) when this boot's mpboot is its
        confirmed copy, verified, running from its directory (a ROMFS holding it would have run:
        boot.py) on a firmware that mounts ROMFS (vfs.VfsRom) and a board with the partition;
        else None. romboot.refresh writes it."""
        here = running_copy()
        c = self.runs.get(MPBOOT)
        if here is None or c is None or c.copy != here or _from_rom():
            return None
        p = self._pointer(MPBOOT)
        if p is None or p.active != here or p.trial is not None:
            return None
        try:
            import esp32
            import vfs
        except ImportError:  # CPython: no board
            return None
        found = hasattr(vfs, "VfsRom") and esp32.Partition.find(esp32.Partition.TYPE_DATA, label=ROM_LABEL)
        return (found[0], here) if found else None

    # -- helpers ------------------------------------------------------------------------------
    def _pointer(self, name):
        try:
            return bundlestore.read_pointer(name)
        except bundle.BundleError:  # bad-pointer: never trusted to turn a check off
            return None

    def _scan(self, name):
        """A bad pointer: the first copy that verifies fully runs, as a normal boot; the
        pointer is rewritten to name it ("-": none verifies)."""
        for copy in ("a", "b"):
            c = self._verify(name, copy, True)
            if isinstance(c, _Copy):
                bundlestore.write_pointer(name, copy)
                self.log("bundle-switched", "bad-pointer", name + " " + copy)
                self.ctx.state.raise_bundle_floor(name, c.security_version)
                return c
        bundlestore.write_pointer(name, None)
        self.log("bundle-refused", "bad-pointer", name)
        self.why = "bundle %s: bad pointer, no copy verifies" % name
        return None

    def _settle_marks(self, name, p):
        """A trial this boot did not start ("try") or that the loader failed ("failed"): log it,
        drop the copy's manifest, point back at the confirmed copy."""
        if p.mark is None:
            return p
        self.log("bundle-rolled-back", p.reason if p.mark == "failed" else "not-confirmed", name + " " + p.trial)
        _drop(name, p.trial)
        bundlestore.write_pointer(name, p.active)
        return bundlestore.read_pointer(name)

    def _active(self, name, p):
        """The confirmed copy verified (files per policy), else the other one fully (unless it
        awaits its trial); None when neither runs. Repairs the bundle's floor (a cut between a
        confirmation's pointer and its floor)."""
        if p.active is None:
            return None
        c = self._verify(name, p.active, self.ctx.cfg.policy == "every-boot")
        if isinstance(c, _Copy):
            self.ctx.state.raise_bundle_floor(name, c.security_version)
            return c
        other = "b" if p.active == "a" else "a"
        o = self._verify(name, other, True) if p.trial is None else None
        if not isinstance(o, _Copy):
            self._refuse(name, p.active, c)
            return None
        bundlestore.write_pointer(name, other)
        self.log("bundle-switched", c.reason, name + " " + other)
        return o

    def _verify(self, name, copy, files):
        """A _Copy, or the BundleError why it does not verify."""
        try:
            return _Copy(copy, bundlestore.load_copy(self.ctx, name, copy, files=files, buf=self.buf,
                                                     documents=self.documents))
        except bundle.BundleError as e:
            return e
        except OSError:
            return bundle.BundleError("unreadable", name + " " + copy)

    def _verify_trial(self, name, p):
        c = self._verify(name, p.trial, True)
        if not isinstance(c, _Copy):
            self._fail(name, p, c.reason, "%s ? %s" % (name, p.trial), c)
        self.log("bundle-verified", "", "%s %s %s" % (name, c.version, c.copy))
        return c

    def _fail(self, name, p, reason, where, e):
        """The trial of p.trial failed: log, drop its manifest, pointer back, reset."""
        print("mpboot: bundle trial failed: %r" % (e,))
        try:
            self.log("bundle-trial-failed", reason, where)
        except Exception:
            pass  # the state log itself may be what failed: the rollback must happen anyway
        _drop(name, p.trial)
        bundlestore.write_pointer(name, p.active)
        _reset()

    def _refuse(self, name, copy, e):
        """Nothing of `name` runs: log why, once (bundle-held when it does not fit this firmware)."""
        if e.reason in _HELD:
            self._once("bundle-held", e.reason, "%s %s" % (name, self._version(name, copy)))
        else:
            self._once("bundle-refused", e.reason, name + " " + copy)
        self.why = "bundle %s: copy %s %s" % (name, copy, e.reason)
        return False

    def _runs(self, name, c):
        """Put verified copy `c` of `name` on sys.path (mpboot: the loader did, first) ahead of
        the filesystem's root ("", where /main.py, the starter, would answer `import main`),
        frozen modules and /lib."""
        if c is None:
            return False
        self.runs[name] = c
        if name != MPBOOT:
            path = sys.path
            i = 0
            while i < len(path) and path[i] not in ("", ".frozen", "/lib"):
                i += 1
            path.insert(i, bundlestore.copy_dir(name, c.copy))
        return True

    def _version(self, name, copy):
        """The version a copy's kept manifest says (signatures checked, not the device's fit)."""
        try:
            data = bundle.read_manifest_file(bundlestore.copy_dir(name, copy) + bundlestore.MANIFEST, self.documents)
            return bundle.load_manifest(data, self.ctx.root).version
        except (bundle.BundleError, OSError):
            return "?"

    def _once(self, code, reason, detail):
        """Log unless the last event about this bundle (or without one) is this very one."""
        last = None
        name = (detail or "").split(" ")[0]
        for event in self.ctx.state.events():
            if (event[3] or "").split(" ")[0] == name:
                last = event[1:]
        if last == (code, reason, detail):
            print("mpboot: %s %s %s" % (code, reason, detail or ""))
        else:
            self.log(code, reason, detail)


def running_copy():
    """The copy of mpboot ("a" or "b") this code was imported from, or None (/lib). From /rom:
    the copy the loader found /rom to hold exactly (it sets mpboot_fw.rom_copy; boot.py)."""
    import mpboot_fw

    where = getattr(mpboot_fw, "__file__", None) or ""
    if where.startswith(ROM + "/"):
        return getattr(mpboot_fw, "rom_copy", None)
    for copy in ("a", "b"):
        if where.startswith(bundlestore.copy_dir(MPBOOT, copy) + "/"):
            return copy
    return None


def _from_rom():
    import mpboot_fw

    return (getattr(mpboot_fw, "__file__", None) or "").startswith(ROM + "/")


def _drop(name, copy):
    """Remove a copy's kept manifest: without it the copy never verifies, so a copy whose trial
    failed is never switched to (the next install of the bundle writes it again)."""
    import os

    try:
        os.remove(bundlestore.copy_dir(name, copy) + ".mpbm")
    except OSError:
        pass  # already gone (a cut after this step, before the pointer)


def _reset():
    import machine

    machine.reset()
