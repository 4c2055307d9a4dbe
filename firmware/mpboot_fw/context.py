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
    ctx = Context()
    ctx.cfg, ctx.config_error = configure(path, slots.running)
    ctx.state = statelog.load(slots.state_partition(ctx.cfg.state))
    ctx.root = anchor(ctx.state)
    return ctx


def configure(path, running):
    """(Config, why the file could not be used or None); raises nothing for any file content.
    A file that cannot be used gives the defaults. Board and chip_id left unset are taken from
    the manifest of `running()` (the running partition); when that cannot be read either, the
    chip is NO_CHIP, so that nothing verifies (installs and switches are refused) until the
    configuration is fixed, and the reason joins the error the stage logs as bad-config."""
    error = None
    try:
        cfg = config.load(path)
    except config.ConfigError as e:
        cfg = config.Config()
        error = str(e)
    if cfg.board is None or cfg.chip_id is None:
        try:
            m = image.read_manifest(running())
            board, chip_id = m.board, m.chip_id  # board "": only images for any board then fit
        except (image.ImageError, OSError) as e:
            board, chip_id = "", NO_CHIP
            why = "no board or chip: running image " + getattr(e, "reason", "unreadable")
            error = why if error is None else error + "; " + why
        if cfg.board is None:
            cfg.board = board
        if cfg.chip_id is None:
            cfg.chip_id = chip_id
    return cfg, error


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
