"""`make fuzz`: a seeded mutation campaign over every target, then the two runtimes compared.

    python fuzz/run.py [--inputs 100000] [--seed 1] [--targets image,statelog] [--micropython 100]

Inputs are split over the targets by weight (cheap parsers get more). Each target runs in worker
processes (fuzz/worker.py) under a memory cap and a per-input timeout; a worker that dies is
restarted after the input that killed it, which is saved. New findings go to fuzz/findings/<target>/
(input .bin and a .txt with the traceback and how to rebuild the input); fuzz/crashes/ holds the
fixed ones that tests/test_fuzz_regressions.py replays. Then a sample of every device target runs
on real MicroPython (through mpboot.mpy.runtime) and each summary must equal CPython's.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import targets  # noqa: E402

WEIGHTS = {"image": 1.5, "appimage": 2, "cjson": 1.5, "root": 0.6, "rootupdate": 0.4, "timestamp": 0.4,
           "snapshot": 0.4, "targets": 0.4, "statelog": 2, "config": 1, "otaconfig": 1, "otadata": 1,
           "partition_table": 1.5, "fetch": 1.5, "serve": 1.5, "p256": 1, "bundle": 1, "pointer": 0.3,
           "loader": 0.3, "kept": 0.6, "tufstore": 0.5, "version": 0.5}
DEVICE = ("image", "appimage", "cjson", "root", "rootupdate", "timestamp", "snapshot", "targets", "statelog", "config",
          "otaconfig", "p256", "bundle", "pointer", "loader", "kept", "tufstore", "version")
CHUNK = 5000


def known_signatures(target):
    sigs = set()
    for folder in ("findings", "crashes"):
        for txt in (HERE / folder / target).glob("*.txt"):
            first = txt.read_text().splitlines()[:1]
            if first:
                sigs.add(first[0])
    return sigs


def save_finding(target_name, signature, seed, index, text, data=None, info=None):
    """Write the input and its story under fuzz/findings/<target>/; returns the path."""
    folder = HERE / "findings" / target_name
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", signature)[:70]
    if data is None:
        data, info = targets.input_for(targets.get(target_name), seed, index)
    (folder / (stem + ".bin")).write_bytes(data)
    (folder / (stem + ".txt")).write_text("%s\ninfo: %s\nrebuild: targets.input_for(targets.get(%r), %d, %d)\n\n%s\n"
                                          % (signature, json.dumps(info or {}), target_name, seed, index, text))
    return folder / (stem + ".bin")


def run_target(name, count, seed, timeout, memory_mb, log):
    """Run `count` inputs of one target; returns (inputs run, findings, new finding files, seconds)."""
    known = known_signatures(name)
    found = 0
    new = []
    start = 0
    t0 = time.monotonic()
    progress = Path(tempfile.mkstemp(prefix="mpboot-fuzz-")[1])
    try:
        while start < count:
            stop = min(count, start + CHUNK)
            cmd = [sys.executable, str(HERE / "worker.py"), name, "--seed", str(seed), "--start", str(start),
                   "--stop", str(stop), "--timeout", str(timeout), "--memory-mb", str(memory_mb),
                   "--progress", str(progress)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                out, err = proc.communicate(timeout=60 + (stop - start) * timeout * 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            done = None
            for line in out.splitlines():
                rec = json.loads(line)
                if "done" in rec:
                    done = rec
                elif rec["finding"] not in known:
                    known.add(rec["finding"])
                    new.append(save_finding(name, rec["finding"], seed, rec["index"], rec["text"]))
                    log("  new finding in %s: %s (input %d)" % (name, rec["finding"], rec["index"]))
            if done is not None:
                found += done["findings"]
                start = stop
                continue
            # The worker died (memory cap, hard crash, parent timeout): the input it was on did it.
            at = int.from_bytes(progress.read_bytes()[:8] or b"\0" * 8, "little", signed=True)
            at = max(at, start)
            found += 1
            sig = "WorkerDied:rc=%s" % proc.returncode
            if sig not in known:
                known.add(sig)
                new.append(save_finding(name, sig, seed, at, err[-3000:]))
                log("  new finding in %s: %s (input %d)" % (name, sig, at))
            start = at + 1
    finally:
        progress.unlink()
    return count, found, new, time.monotonic() - t0


# -- the two runtimes --------------------------------------------------------------------------
MP_SETUP = """
import sys
sys.path.append('/fuzz')
sys.path.append('/tests')
import devtargets, nor_ram
from mpboot_fw import trust
def rd(p):
    f = open(p, 'rb')
    d = f.read()
    f.close()
    return d
CTX = {'root': trust.load_root(rd('/data/root')), 'nor': nor_ram.NorRam, 'path': '/fuzz-input.json',
       'tuf_root': rd('/data/tuf_root'), 'now': %d, 'tuf_timestamp': rd('/data/ts'), 'tuf_snapshot': rd('/data/snap'),
       'loader': devtargets.loader(rd('/fuzz/loader_defs.py').decode(), '/kept/')}
"""
MP_BATCH = """
INPUTS = devtargets.read_inputs(rd('/data/inputs'))
for i in range(%d, %d):
    print('@@%%d %%s' %% (i, devtargets.outcome(%r, INPUTS[i], CTX).replace('\\n', ' ')))
"""
BATCH = 20  # per run: this port frees garbage only between runs


def _boot(mp, ctx, inputs):
    """A fresh interpreter with the device package, devtargets, the context files and `inputs`."""
    from targets import device

    mp.boot()
    mp.put_firmware()
    mp.put_file("/fuzz/devtargets.py", (HERE / "devtargets.py").read_bytes())
    mp.put_file("/tests/nor_ram.py", (HERE.parent / "tests" / "device" / "nor_ram.py").read_bytes())
    mp.put_file("/fuzz/loader_defs.py", device.LOADER_DEFS)
    for path, data in device.KEPT_FILES.items():
        mp.put_file("/kept/a/" + path, data)
    for path, data in (("root", (device.DATA / "root_single.json").read_bytes()), ("tuf_root", ctx["tuf_root"]),
                       ("ts", ctx["tuf_timestamp"]), ("snap", ctx["tuf_snapshot"]),
                       ("inputs", b"".join(len(d).to_bytes(4, "little") + d for d in inputs))):
        mp.put_file("/data/" + path, data)
    mp.run(MP_SETUP % ctx["now"], timeout=120).check()


def mp_outcomes(mp, ctx, name, inputs):
    """devtargets.outcome of each input on MicroPython, in batches of BATCH runs."""
    _boot(mp, ctx, inputs)
    got = {}
    for a in range(0, len(inputs), BATCH):
        b = min(len(inputs), a + BATCH)
        res = mp.run(MP_BATCH % (a, b, name), timeout=300)
        for line in res.output:
            if line.startswith("@@"):
                i, _, summary = line[2:].partition(" ")
                got[int(i)] = summary
        if not res.ok:
            for i in range(a, b):
                got.setdefault(i, "X:run failed:%s" % (res.exc or "timeout")[-200:])
            _boot(mp, ctx, inputs)
    return [got.get(i) for i in range(len(inputs))]


def compare_runtimes(names, per_target, seed, log):
    """Run `per_target` inputs of each device target on both runtimes; return disagreements."""
    import devtargets
    from mpboot.mpy.runtime import MicroPython
    from targets import device

    ctx = device.context()
    out = {}
    with MicroPython() as mp:
        for name in names:
            t = targets.get(name)
            inputs = [targets.input_for(t, seed, 10_000_000 + i)[0] for i in range(per_target)]
            want = [devtargets.outcome(name, d, ctx).replace("\n", " ") for d in inputs]
            t0 = time.monotonic()
            got = mp_outcomes(mp, ctx, name, inputs)
            diffs = [(i, want[i], got[i]) for i in range(per_target) if want[i] != got[i]]
            out[name] = {"inputs": per_target, "disagree": len(diffs), "seconds": round(time.monotonic() - t0, 1),
                         "examples": diffs[:3], "data": [inputs[i] for i, _, _ in diffs[:3]]}
            log("micropython %-10s %4d inputs, %d disagree, %.0f s" % (name, per_target, len(diffs),
                                                                        out[name]["seconds"]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000, help="inputs over all targets (CPython)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--targets", default=",".join(WEIGHTS))
    ap.add_argument("--timeout", type=float, default=1.0, help="seconds per input")
    ap.add_argument("--memory-mb", type=int, default=1024, help="address-space cap per worker")
    ap.add_argument("--micropython", type=int, default=100, help="inputs per device target on both runtimes")
    ap.add_argument("--report", default=str(HERE / "last-run.json"))
    a = ap.parse_args(argv)
    names = [n for n in a.targets.split(",") if n]
    total = sum(WEIGHTS[n] for n in names)
    log = lambda line: print(line, flush=True)  # noqa: E731
    report = {"seed": a.seed, "inputs": a.inputs, "targets": {}}
    t0 = time.monotonic()
    for n in names:
        count = max(1, int(a.inputs * WEIGHTS[n] / total))
        ran, found, new, secs = run_target(n, count, a.seed, a.timeout, a.memory_mb, log)
        report["targets"][n] = {"inputs": ran, "seconds": round(secs, 1), "findings": found,
                                "new": [str(p.relative_to(HERE)) for p in new]}
        log("%-16s %7d inputs %7.1f s %6.0f/s  %d finding inputs, %d new" % (n, ran, secs, ran / secs, found, len(new)))
    report["cpython_seconds"] = round(time.monotonic() - t0, 1)
    device_names = [n for n in names if n in DEVICE]
    if a.micropython and device_names:
        mp = compare_runtimes(device_names, a.micropython, a.seed, log)
        for name, r in mp.items():
            for (i, want, got), data in zip(r["examples"], r.pop("data")):
                save_finding(name, "Disagree:%s" % (got or "none")[:40], a.seed, 10_000_000 + i,
                             "CPython:     %s\nMicroPython: %s" % (want, got), data)
        report["micropython"] = mp
    report["seconds"] = round(time.monotonic() - t0, 1)
    Path(a.report).write_text(json.dumps(report, indent=1) + "\n")
    log("total %.0f s; report in %s" % (report["seconds"], a.report))


if __name__ == "__main__":
    main()
