"""What every trust decision on the device starts from: the configuration, the state log and the
trust anchor it holds. The boot stage and the installer both open it with `load()`.

What this device is (board, chip_id) is never unknown here: what the configuration does not say
(no file, a file that cannot be used, or a field left out) is the running image's, from its
manifest. No typo, deletion or filesystem fault turns the board check off, and with a bad file
the policy is every-boot, so the stage verifies that manifest's signatures on every boot.

The root in the state partition was verified before it was stored (at provisioning or by a TUF
root rotation) and the partition is as trusted as the code reading it, so it is parsed here,
not verified again: a boot pays for one signature check (the image's), not for the root's too.
"""

import json

from mpboot_fw import config, image, slots, statelog, trust

# No manifest has this chip id (a u16): every image is refused as wrong-chip.
NO_CHIP = -1


class Context:
    """cfg: the Config (defaults if the file was bad); config_error: why it was bad, or None;
    state: the statelog.State; root: the trust.Root the state holds."""


def load(path=config.PATH):
    """The context; nothing in /mpboot.json makes it raise (config_error says what was wrong).
    A file that cannot be used gives the defaults, and so does a state label no partition has
    (the stage must reach the state log to log that)."""
    ctx = Context()
    try:
        cfg, error = config.load(path), None
    except config.ConfigError as e:
        cfg, error = config.Config(), str(e)
    try:
        part = slots.state_partition(cfg.state)
    except OSError:
        default = config.Config()
        if cfg.state == default.state:
            raise  # no state log at all: nowhere to log it (the stage holds the app back)
        cfg, error = default, "state: no partition " + cfg.state
        part = slots.state_partition(cfg.state)
    if cfg.board is None or cfg.chip_id is None:
        why = identify(cfg, slots.running())
        if why is not None:
            error = why if error is None else error + "; " + why
    ctx.cfg, ctx.config_error = cfg, error
    ctx.state = statelog.load(part)
    ctx.root = anchor(ctx.state)
    return ctx


def identify(cfg, running):
    """Set the board and chip_id that `cfg` leaves unset to those in the manifest of the image
    in `running` (its partition). When that cannot be read either, the chip is NO_CHIP, so that
    nothing verifies (installs and switches are refused) until the configuration is fixed; the
    reason is returned, for the stage to log as bad-config (None when the manifest was read)."""
    why = None
    try:
        m = image.read_manifest(running)
        board, chip_id = m.board, m.chip_id  # board "": only images for any board then fit
    except (image.ImageError, OSError) as e:
        board, chip_id = "", NO_CHIP
        why = "no board or chip: running image " + getattr(e, "reason", "unreadable")
    if cfg.board is None:
        cfg.board = board
    if cfg.chip_id is None:
        cfg.chip_id = chip_id
    return why


def anchor(state):
    """The trust.Root stored in `state` (structure checked; see the module docstring). Only the
    `signed` part is parsed: no canonical re-encoding, no signature list, a third of the heap
    trust.load_envelope would take."""
    data = state.root()
    if data is None:
        raise trust.TrustError("no trust anchor in the state")
    try:
        doc = json.loads(data)
    except ValueError:
        raise trust.TrustError("root: not JSON")
    del data
    signed = doc.get("signed") if isinstance(doc, dict) else None
    if not isinstance(signed, dict) or signed.get("_type") != "root":
        raise trust.TrustError("root: no signed root")
    return trust.parse_root(signed)
