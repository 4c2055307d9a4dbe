"""Heap a whole over-the-air update needs on the device, measured on the emulated board: the real
repository and HTTPS server, the device's updater driven a step at a time (Update.steps is a
generator), the live heap read between steps.

The WebAssembly port collects garbage only between top-level runs (tests/tufmem.py explains),
so the board's main.py does nothing and the REPL (Board.boot(repl=...)) then runs one step per
run: "start" (context, configuration, fetcher, the stored root as a TrustedSet), one per TUF
role (root rotation, timestamp, snapshot, targets), "chosen" (time floor raised, image chosen,
the trusted set dropped), "downloaded" (the image streamed into ota_1), "installed"
(manifest compared, install.commit: verify in flash, pending record, set_boot). Idle is the
heap with the updater's modules (fetch included) imported. For each step:

    live      the live heap after it (above idle), read after a collection;
    allocated what it allocated, garbage included (nothing is collected inside a run);
    bound     live before + allocated, which the peak inside the step cannot exceed; for the
              steps that verify Ed25519 signatures, whose garbage is large but short-lived,
              live after + the largest short-lived working set of a check (Ed25519 verify,
              the canonical-form comparison: tufmem.transient_peak, exact on CPython where
              objects are larger); for "chosen", whose find_image parses every entry's version
              (garbage, about 2.7 KB per target on MicroPython), live before + find_image's
              peak measured the same way.

The emulated socket layer (mpylib) allocates per call where a board's C socket allocates
nothing, so the download's `allocated` errs high. The TLS session itself lives outside the
MicroPython heap on a board (mbedtls allocates from the system heap) and on the host here.
"""

import json

from mpboot.errors import MpbootError
from mpboot_fw import tufclient
import tufmem
from otaworld import World
from tracepeak import traced

VERIFYING = ("start", "metadata", "installed")
CHOOSING = "chosen"
STEP = """
_a = gc.mem_alloc()
try:
    _s = next(_it)
except StopIteration:
    _s = None
print('@@', _s, gc.mem_alloc() - _a)
"""


def world(tmp_path, runtime, targets_bytes=None):
    """A World whose device has not checked yet, and 2.0.0 published; with `targets_bytes`,
    more versions are published first until targets metadata is about that large."""
    w = World(tmp_path, runtime, files={"/main.py": ""})
    if targets_bytes:
        n = 1
        while len(w.repo().raw["targets"]) < targets_bytes - 700:
            try:
                w.publish("1.0.%d" % n)
            except MpbootError:
                break
            n += 1
    w.publish("2.0.0")
    return w


def measure(w, setup="import gc\nfrom mpboot_fw import fetch, updater", after=None):
    """Drive one update on the board a step per run; {"idle", "steps": [(step, live, allocated)],
    "outcome"}. The board is left as the update left it (ota_1 selected, not yet booted).
    `setup`: the run before idle is read (the modules an update imports); `after`: code run in
    the same boot once the update is done, its output in "after"."""
    result = {}

    def repl(mp, handler):
        run = lambda code: mp.run(code, handler=handler, timeout=120)  # noqa: E731

        def live():
            # The collector is conservative: a pointer left on the stack by the run before can
            # keep its garbage alive through one collection. The smaller of two readings.
            return min(mp.live_heap(), mp.live_heap())

        run(setup).check()
        idle = result["idle"] = live()
        run("_u = updater.Update()\n_it = _u.steps(False)").check()
        steps = [("made", live() - idle, None)]
        while True:
            out = run(STEP)
            text = out.check()
            name, allocated = text.split("@@ ")[-1].split()
            if name == "None":
                break
            steps.append((name, live() - idle, int(allocated)))
        result["steps"] = steps
        result["outcome"] = run("print(_u.outcome)").check().split()[-1]
        if after is not None:
            result["after"] = run(after).check()
        return out

    record = w.boot(repl=repl)
    assert record.outcome == "ok", record.output
    return result


def bounds(result, transient, choosing):
    """[(step, live, allocated, bound)] as the module docstring defines them."""
    out = []
    before = result["steps"][0][1]
    for name, live, allocated in result["steps"][1:]:
        if name in VERIFYING:
            bound = live + transient
        elif name == CHOOSING:
            bound = before + choosing
        else:
            bound = before + allocated
        out.append((name, live, allocated, bound))
        before = live
    return out


def estimate(w):
    """The measurement and the figure held against the target: the largest step bound."""
    result = measure(w)
    files = {role: w.metadata(name).read_bytes() for role, name in _current_files(w).items()}
    transient = tufmem.transient_peak(files)
    choosing = find_image_peak(files["targets"])
    rows = bounds(result, transient, choosing)
    return dict(result, transient=transient, find_image=choosing, rows=rows, estimate=max(r[3] for r in rows),
                targets_bytes=len(files["targets"]))


def find_image_peak(targets_bytes):
    """tracemalloc peak (bytes) of choosing the image from parsed targets, on CPython."""
    targets = json.loads(targets_bytes)["signed"]
    found, peak = traced(tufclient.find_image, targets, 0, "esp32-4mb", "stable", 0, "1.0.0")
    assert found is not None
    return peak


def _current_files(w):
    repo = w.repo()
    return {"root": "1.root.json", "timestamp": "timestamp.json",
            "snapshot": "%d.snapshot.json" % repo.snapshot.version,
            "targets": "%d.targets.json" % repo.targets.version}


def table(result):
    lines = ["step          live   allocated   bound   (bytes above idle %d)" % result["idle"]]
    lines.append("made        %6d" % result["steps"][0][1])
    for name, live, allocated, bound in result["rows"]:
        lines.append("%-10s  %6d  %10d  %6d" % (name, live, allocated, bound))
    lines.append("estimate %d bytes (%.1f KiB); targets metadata %d bytes; check transient %d, find_image %d" % (
        result["estimate"], result["estimate"] / 1024, result["targets_bytes"], result["transient"],
        result["find_image"]))
    return "\n".join(lines)

