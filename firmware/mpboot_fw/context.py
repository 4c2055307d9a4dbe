"""What every trust decision on the device starts from: the configuration, the state log and the
trust anchor it holds. The boot stage and the installer both open it with `load()`.

The root in the state partition was verified before it was stored (at provisioning or by a TUF
root rotation) and the partition is as trusted as the code reading it, so it is parsed here,
not verified again: a boot pays for one signature check (the image's), not for the root's too.
"""

import json

from mpboot_fw import config, slots, statelog, trust


class Context:
    """cfg: the Config (defaults if the file was bad); config_error: why it was bad, or None;
    state: the statelog.State; root: the trust.Root the state holds."""


def load(path=config.PATH):
    ctx = Context()
    ctx.config_error = None
    try:
        ctx.cfg = config.load(path)
    except config.ConfigError as e:
        ctx.config_error = str(e)
        ctx.cfg = config.Config()
    ctx.state = statelog.load(slots.state_partition(ctx.cfg.state))
    ctx.root = anchor(ctx.state)
    return ctx


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
