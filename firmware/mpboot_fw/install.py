"""Install a signed image into the inactive slot and switch to it for a trial boot.

    from mpboot_fw import install
    install.run(open("/app-v2.mpb", "rb"))      # a file on the filesystem
    install.run(stream, length=n)               # any object with readinto(buf): a serial link

Steps, each one safe to cut at (docs/boot-stage.md walks through every cut):
1. `receive`: the stream goes into the slot after the running one in 4 KiB blocks through one
   buffer. More bytes than the slot holds: refused ("too-large") as soon as they arrive, or
   before anything is written when `length` says so; fewer than `length`: "truncated".
2. `commit`: the image is verified where it now is, in flash (manifest, signatures against the
   trust anchor, chip, board, security version not below the floor, payload hash), so what
   boots is exactly what was checked. Then the pending install is recorded in the state log,
   and only then does otadata select the slot (`set_boot`; ESP-IDF checks the app image once
   more). The install is logged ("installed").
3. The device resets into a trial boot, where the boot stage (stage.py) verifies it again, runs
   the health check and confirms it, or the bootloader rolls it back.

Nothing is written into the slot before `claim`: no install while a trial boot runs (its
health check could start one: "trial-in-progress"), and otherwise otadata must select the running
image and hold it VALID, so that no reset and no rollback can boot the slot being written.
A refusal logs "refused" with the failed check's code, erases the slot's first sector (`discard`:
a refused image is never left bootable) and raises InstallError. The updater (OTA) uses the same
`claim`, SlotWriter (its download sink) and `commit`.
"""

from mpboot_fw import bundledir, context, image, loading, slots

try:
    from micropython import const
except ImportError:
    const = lambda x: x  # noqa: E731

BLOCK = const(4096)


class InstallError(Exception):
    """The image was refused; `reason` is the failed check's code (as in the state log)."""

    def __init__(self, reason, detail=None):
        super().__init__(reason if detail is None else reason + ": " + detail)
        self.reason = reason
        self.detail = detail


class SlotWriter:
    """Writes an image into `slot` from offset 0, one 4 KiB block per write() (only the last
    may be shorter), never past the end of the slot. Also a download sink (write/reset)."""

    def __init__(self, slot, buf=None):
        self.slot = slot
        self.size = slot.info()[3]
        self.buf = bytearray(BLOCK) if buf is None else buf
        self.written = 0

    def write(self, data):
        n = len(data)
        if self.written % BLOCK:
            raise ValueError("write after a short block")
        if self.written + n > self.size:
            raise InstallError("too-large", "slot is %d bytes" % self.size)
        block = data
        if n < BLOCK:
            # writeblocks erases whole 4 KiB sectors: pad the last block with erased bytes.
            buf = self.buf
            buf[:n] = data
            for i in range(n, BLOCK):
                buf[i] = 0xFF
            block = buf
        self.slot.writeblocks(self.written // BLOCK, block)
        self.written += n

    def reset(self):
        self.written = 0


def run(stream, length=None, reset=True):
    """Install from `stream` into the inactive slot; reset into the trial boot (unless
    reset=False: then return the Manifest). Raises InstallError after logging a refusal."""
    ctx = context.load()
    running = slots.running()
    target = slots.other(running)
    try:
        claim(ctx, running, target)
    except InstallError as e:
        ctx.state.log_event("refused", e.reason, e.detail)
        raise
    m = install(ctx, stream, target, length)
    if reset:
        import machine

        machine.reset()
    return m


def install(ctx, stream, slot, length=None):
    """receive + commit into `slot`, logging a refusal. Returns the Manifest."""
    writer = SlotWriter(slot)
    try:
        receive(stream, writer, length)
        return commit(ctx, slot, writer.written, writer.buf)
    except (InstallError, image.ImageError) as e:
        error = e if isinstance(e, InstallError) else InstallError(e.reason, str(e)[len(e.reason) + 2:] or None)
    except OSError as e:  # the stream or the flash failed under us
        error = InstallError("io-error", repr(e))
    if writer.written:  # else the slot still holds what it held (its first write erases first)
        discard(slot)
    ctx.state.log_event("refused", error.reason, error.detail or slots.label(slot))
    raise error


def claim(ctx, running, slot):
    """Before anything is written into `slot` (InstallError when it may not be):
    - a pending install whose slot is running: this is its trial boot, not confirmed yet (the
      health check may be what calls us). Its entry is PENDING_VERIFY: any reset rolls back to
      `slot`, which would boot whatever was written there ("trial-in-progress"; ESP-IDF's
      esp_ota_begin refuses the same with ESP_ERR_OTA_ROLLBACK_INVALID_STATE).
    - otherwise otadata must select the running image (it selects `slot` while an earlier install
      awaits its reset, or after the bootloader fell back from it) and hold it VALID (after the
      stage switched slots, the running entry is PENDING_VERIFY until confirmed): bytes written
      into `slot` would boot on the next reset or rollback, whatever the checks say of them. An
      earlier install's record goes: `slot` is about to be overwritten.
    - no bundle's trial is running ("trial-in-progress": its health check may be what calls
      us, and the image's trial would follow with the bundle still unconfirmed).
    A cut before the end leaves `slot` as it was, or a rolled-back install to the stage."""
    pending = refuse_during_trial(ctx, running)
    if bundledir.present():
        with loading():
            from mpboot_fw import bundlestore  # only then: its code stays on the heap once imported

        name = bundlestore.on_trial(running=True)
        if name is not None:
            raise InstallError("trial-in-progress", "bundle " + name)
    try:
        if slots.label(slots.boot()) != slots.label(running):
            slots.set_boot(running)
        slots.confirm()  # writes nothing when the entry is VALID already
    except OSError as e:
        raise InstallError("not-confirmed", repr(e))
    if pending is not None:
        ctx.state.clear_pending()


def refuse_during_trial(ctx, running):
    """Raise InstallError("trial-in-progress") while the running image is a pending install's
    trial (see claim); else return the pending record (or None)."""
    pending = ctx.state.pending
    if pending is not None and pending["slot"] == slots.label(running):
        raise InstallError("trial-in-progress", pending["slot"] + " " + pending["version"])
    return pending


def discard(slot):
    """Make what `slot` holds unbootable: erase its first sector (the app header and the start
    of the first segment; ESP-IDF's image checks fail without them, and so they do on a sector
    a cut left half erased). For a refused image, which must never be what a fallback boots."""
    slot.ioctl(6, 0)


def receive(stream, writer, length=None):
    """Copy the image from `stream` (readinto) into the writer's slot, in 4 KiB blocks.
    `length`: the exact size to expect, or None to read until the stream ends."""
    if length is not None and length > writer.size:
        raise InstallError("too-large", "%d bytes, slot is %d" % (length, writer.size))
    mv = memoryview(writer.buf)
    while length is None or writer.written < length:
        want = BLOCK if length is None else min(BLOCK, length - writer.written)
        n = _fill(stream, mv, want)
        if n:
            writer.write(mv if n == BLOCK else mv[:n])  # a slice only for the last, short block
        if n < want:
            break
    if length is not None and writer.written < length:
        raise InstallError("truncated", "%d of %d bytes" % (writer.written, length))
    if not writer.written:
        raise InstallError("truncated", "no data")
    return writer.written


def commit(ctx, slot, written, buf=None):
    """Verify the image in `slot` (its first `written` bytes), record the pending install and
    select the slot for the next boot. Returns the Manifest."""
    cfg, state = ctx.cfg, ctx.state
    m = image.verify_slot(slot, ctx.root, cfg.chip_id, cfg.board, state.floor, limit=written, buf=buf)
    label = slots.label(slot)
    state.set_pending(label, m.version, m.security_version, m.payload_sha256)
    try:
        slots.set_boot(slot)
    except OSError:
        state.clear_pending()
        raise InstallError("not-bootable", "set_boot refused the app image")
    state.log_event("installed", "", image.describe(label, m))
    return m


def _fill(stream, mv, want):
    """Read up to `want` bytes into mv[:want] (a stream may return fewer per call); 0 at the end."""
    got = 0
    while got < want:
        k = stream.readinto(mv if got == 0 and want == BLOCK else mv[got:want])
        if not k:
            break
        got += k
    return got
