"""The verified boot stage: the first thing boot.py runs on every boot, before the application.

    from mpboot_fw import stage
    stage.main()     # returns: the app may start; raises Recovery: it may not; or resets

What kind of boot this is comes from the pending-install record in the state log (MicroPython
cannot read otadata's states), compared with the slot that is running:
- pending, and its slot is running: a trial boot (the first boot after an install). Verify the
  image against the trust anchor (signatures, chip, board, security version >= floor, payload
  hash, and that it is the image that was installed), run the health check under a watchdog,
  then confirm in this order: otadata VALID (mark_app_valid_cancel_rollback), raise the floor
  to the image's security version, log "confirmed", drop the pending record. Any failure
  before otadata says VALID: log "trial-failed" with the reason and reset; the bootloader
  finds the entry still PENDING_VERIFY, aborts it and boots the previous slot. A repeated
  trial (a cut after VALID) whose floor already rose to the image's security version, above the
  previous image's, is past the point of no return: it finishes the confirmation without a
  second health check.
- pending, another slot running, and otadata no longer selecting the pending slot: the trial
  was rolled back or never started. Log "rolled-back", verify the running image, confirm it,
  drop the record. If the running image fails too, the stage never switches to the abandoned
  slot: it logs "recovery" and keeps the record (so that no later boot switches to it either). (If otadata still selects it, the install waits for its reset: a soft
  reboot, nothing to do.)
- no pending install: a normal boot. Policy "every-boot" verifies the running image and
  confirms it; "trial-only" lets it run unchecked, unless its manifest says it is below the
  floor, and verifies it after a bootloader fallback or a switch by the stage (which it then
  confirms, logging "confirmed"). An image that fails (corrupt, or below the floor) makes the
  stage try the other slot: verified, it is selected and the device resets; otherwise
  "recovery" is logged and the application is held back (Recovery). The image runs only once
  it is confirmed (when otadata selects it).

Bundles (bundleboot.py, docs/loader.md): before the firmware decision, mpboot's own bundle
(the package running this, whose trial the fixed loader started); after it, every other
bundle verified and put on sys.path (before a firmware health check, whose hook may live in a
bundle), then at most one bundle trial, only on a normal firmware boot, and the choice of the
application main.py starts.

docs/boot-stage.md has the reasoning for each step and every power cut.
"""

from mpboot_fw import loading

with loading():
    from mpboot_fw import bundledir, context, image, slots, statelog
    from mpboot_fw.entry import resolve
    from mpboot_fw.image import describe

class Recovery(Exception):
    """No verified image may run here: boot.py raises this so that main.py does not start."""


class HealthError(Exception):
    def __init__(self, reason, detail):
        super().__init__(reason + ": " + detail)
        self.reason = reason
        self.detail = detail


def main():
    """Run the boot stage (see the module docstring). Returns when the application may start,
    with the entry point of the application bundle it chose (None: none; main.py starts it),
    raises Recovery when it may not, and does not return when it resets the device."""
    boot = _Boot()
    try:
        ok = boot.run()
    except BaseException as e:  # a fault in the stage itself must not let an unverified app run
        ok = boot.fault(e)
    if not ok:
        raise Recovery(boot.why)
    return boot.app


class _Boot:
    def __init__(self):
        self.ctx = None
        self.boot = 0
        self.trial = False  # running a pending install that is not confirmed yet
        self.repeat = False  # ... and not for the first time
        self.accepted = False  # the running image may run
        self.abandoned = None  # the slot of a rolled-back install: never switched to
        self.confirming = False  # trial-only, the boot after a switch: log the confirmation
        self.wdt = None
        self.why = None
        self.buf = bytearray(4096)
        self.bundles = None
        self.app = None

    def run(self):
        self.running = slots.running()
        self.label = slots.label(self.running)
        ctx = self.ctx = context.load()
        self.boot = ctx.state.next_boot()
        if ctx.config_error:
            self.log("bad-config", ctx.config_error)
        # mpboot's own bundle first: the package running this code (bundleboot.py).
        self.bundles = _bundles(ctx, self.log, self.buf)
        if not self.bundles.own(ctx.state.pending is not None):
            self.why = self.bundles.why
            return False
        if not self.firmware():
            return False
        bundles = self.bundles
        bundles.load()
        # Never a firmware trial and a bundle trial at once: a bundle's trial waits for a
        # normal firmware boot with nothing pending.
        if not self.trial and self.ctx.state.pending is None and bundles.trial(self.health) and self.wdt is not None:
            print("mpboot: restarting without the health check's watchdog")
            _reset()
        self.app = bundles.choose()
        if not self.trial and self.ctx.state.pending is None:
            self.refresh_romfs()
        return True

    def refresh_romfs(self):
        """On a board with a romfs partition, after a boot whose mpboot ran from its confirmed
        copy's directory (an update of the package, or a partition erased or torn): write the
        copy there, so the next boot runs it from flash (romboot.py). A failure is logged and
        changes nothing else: the copy runs from its directory until a write succeeds."""
        target = self.bundles.romfs_target()
        if target is None:
            return
        with loading():
            from mpboot_fw import romboot

        part, copy = target
        try:
            if romboot.refresh(part, copy, self.buf, self.bundles.documents):
                self.log("romfs-written", "", "mpboot " + copy)
        except Exception as e:
            self.log("romfs-error", getattr(e, "reason", None) or type(e).__name__, str(e))

    def firmware(self):
        """The firmware decision (the module docstring): True when the running image may run."""
        ctx = self.ctx
        pending = ctx.state.pending
        if pending is None:
            return self.normal_boot(self.must_verify())
        if pending["slot"] == self.label:
            self.trial = True
            self.repeat = _tried(ctx.state, pending)
            return self.trial_boot(pending)
        if slots.label(slots.boot()) == pending["slot"]:
            return self.normal_boot(self.must_verify())  # the install awaits its reset
        self.log("rolled-back", "not confirmed", pending["slot"] + " " + pending["version"])
        self.abandoned = pending["slot"]
        ok = self.normal_boot(True)
        if ok:
            # Kept otherwise: without it, the next boot would switch to the abandoned image.
            ctx.state.clear_pending()
        return ok

    # -- trial boot ---------------------------------------------------------------------------
    def trial_boot(self, pending):
        try:
            m = self.verify(self.running)
            if m.payload_sha256 != pending["sha256"]:
                raise image.ImageError("not-installed", "slot holds another image")
            self.log("verified", "", describe(self.label, m))
            # A repeated trial runs only once otadata said VALID (the bootloader rolls back any
            # other). When the floor has also risen to this image's security version past the
            # previous image's, the decision is made: a failing health check could only roll
            # back into an image the stage refuses, and so into recovery. Finish the
            # confirmation instead. Otherwise the health check runs again, and a failure rolls
            # back as on a first trial.
            if not (self.repeat and self.past_the_floor(m)):
                self.health()
            slots.confirm()
        except Exception as e:
            return self.roll_back(e)
        # otadata now keeps this image: from here on a cut repeats the steps below, never undoes them
        self.accepted = True
        state = self.ctx.state
        state.raise_floor(m.security_version)
        self.log("confirmed", "", describe(self.label, m))
        state.clear_pending()
        if self.wdt is not None:
            # An ESP32 task watchdog cannot be stopped: start the app from a clean boot instead.
            print("mpboot: restarting without the health check's watchdog")
            _reset()
        return True

    def past_the_floor(self, m):
        """Has the floor risen to `m`'s security version above the previous slot's image (whose
        manifest is only read: a slot that has none cannot be rolled back to either)?"""
        floor = self.ctx.state.floor
        if floor < m.security_version:
            return False
        try:
            return image.read_manifest(slots.other(self.running)).security_version < floor
        except image.ImageError:
            return True

    def health(self):
        """Call the configured hook under a watchdog; raise HealthError unless it returns true."""
        cfg = self.ctx.cfg
        if cfg.health is None:
            return
        import machine

        # The hook may import its module from a bundle: the verified copies go on sys.path first.
        self.bundles.load()
        # Over the limit, the watchdog resets the device and the bootloader rolls the trial back.
        self.wdt = machine.WDT(timeout=cfg.health_ms)
        try:
            ok = resolve(cfg.health)()
        except Exception as e:
            raise HealthError("health-error", repr(e))
        finally:
            # The hook is application code: it may have written the state log through a State
            # of its own (an update check, a refused install log their outcome), which writes
            # from this one, scanned before, would land on.
            self.ctx.state = statelog.load(slots.state_partition(cfg.state))
        if not ok:
            raise HealthError("health-failed", repr(ok))
        self.wdt.feed()  # a full period for the confirmation steps

    def roll_back(self, e):
        """Log why the trial failed and reset into the previous image. Returns False (recovery)
        only when there is no previous image to go back to."""
        try:
            self.log("trial-failed", getattr(e, "reason", "exception"), getattr(e, "detail", None) or repr(e))
        except BaseException:
            pass  # the state log itself may be what failed: the rollback must happen anyway
        if self.repeat:
            # The bootloader did not roll back after the last trial boot: its otadata entry was
            # marked VALID before the power went. Select the previous slot explicitly.
            try:
                slots.set_boot(slots.other(self.running))
            except OSError:
                self.why = "trial failed and the previous slot is not bootable"
                return False
        _reset()

    # -- normal boot --------------------------------------------------------------------------
    def must_verify(self):
        """Does this normal boot verify the running image? Always under every-boot; under
        trial-only when the stage has not seen it pass yet on this device: the bootloader fell
        back to it (otadata selects the other slot), or the stage just switched to it (verified
        then, but its entry is PENDING_VERIFY: it must be confirmed, or the next reset rolls back
        into the slot that was refused, or into whatever an install writes there next)."""
        if self.ctx.cfg.policy == "every-boot" or slots.label(slots.boot()) != self.label:
            return True
        self.confirming = _switched_to(self.ctx.state, self.label)
        return self.confirming

    def normal_boot(self, verify):
        if not verify:
            # Unchecked, but never below the floor: when the confirmed slot no longer loads, the
            # bootloader falls back to the older release in the other one. Its manifest is only
            # read (a few hundred bytes; no hash, no signature), not verified.
            try:
                if image.read_manifest(self.running).security_version < self.ctx.state.floor:
                    raise image.ImageError("downgrade")
            except image.ImageError as e:
                return self.switch(e)
            self.accepted = True
            print("mpboot: boot %d: %s runs unchecked (trial-only policy)" % (self.boot, self.label))
            return True
        try:
            m = self.verify(self.running)
        except image.ImageError as e:
            return self.switch(e)
        if slots.label(slots.boot()) == self.label:
            slots.confirm()  # no write unless otadata still has it on trial (after a switch)
            if self.confirming:
                self.log("confirmed", "", describe(self.label, m))
        # Only now: an exception from confirm() must not let an unconfirmed image run.
        self.accepted = True
        print("mpboot: boot %d: %s verified" % (self.boot, describe(self.label, m)))
        return True

    def switch(self, refusal):
        """The running image failed: boot the other slot if it verifies, else hold the app back."""
        self.log("boot-refused", refusal.reason, self.label)
        other = slots.other(self.running)
        name = slots.label(other)
        try:
            if name == self.abandoned:
                # Its trial failed or never ran: switching would run it without its health
                # check, and its next trial would fail back here, resetting without end.
                raise image.ImageError("rolled-back")
            m = self.verify(other)
            slots.set_boot(other)
        except (image.ImageError, OSError) as e:
            reason = getattr(e, "reason", "not-bootable")
            self.why = "no verified image: %s %s, %s %s" % (self.label, refusal.reason, name, reason)
            self.log("recovery", reason, name)
            return False
        self.log("switched", "", describe(name, m))
        _reset()

    # -- helpers ------------------------------------------------------------------------------
    def verify(self, part):
        ctx = self.ctx
        cfg = ctx.cfg
        return image.verify_slot(part, ctx.root, cfg.chip_id, cfg.board, ctx.state.floor, buf=self.buf)

    def log(self, code, reason="", detail=None):
        print("mpboot: boot %d: %s" % (self.boot, " ".join(x for x in (code, reason, detail) if x)))
        self.ctx.state.log_event(code, reason, detail)

    def fault(self, e):
        """An exception escaped a step: roll back an unconfirmed trial, keep an accepted image,
        otherwise hold the application back."""
        self.why = "boot stage failed: " + repr(e)
        print("mpboot: " + self.why)
        if self.trial and not self.accepted:
            return self.roll_back(e)
        if self.ctx is not None:
            try:
                self.log("stage-error", type(e).__name__, repr(e))
            except BaseException:
                pass  # the state log itself may be what failed
        return self.accepted


def _tried(state, pending):
    """Did an earlier boot already run this install's trial (and log `verified`)? Boot numbers
    alone cannot tell: a soft reboot between the install and its reset counts as a boot too."""
    for boot, code, _, _ in state.events():
        if code == "verified" and boot > pending["boot"]:
            return True
    return False


def _switched_to(state, label):
    """Is the last event the stage's switch to `label` (not confirmed by a boot of it yet)?"""
    last = None
    for event in state.events():
        last = event
    return last is not None and last[1] == "switched" and last[3].split(" ")[0] == label


class _NoBundles:
    """bundleboot.Boot's part for a filesystem that holds no bundle."""
    why = None

    def own(self, firmware_pending):
        return True

    def load(self):
        pass

    def trial(self, health):
        return False

    def choose(self):
        return None

    def romfs_target(self):
        return None


def _bundles(ctx, log, buf):
    """bundleboot's Boot; _NoBundles when the filesystem has no bundles directory at all, so
    that a device without bundles never imports their code (bundledir)."""
    if not bundledir.present():
        return _NoBundles()
    with loading():
        from mpboot_fw import bundleboot

    return bundleboot.Boot(ctx, log, buf)


def _reset():
    import machine

    machine.reset()
