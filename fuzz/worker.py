"""One fuzz worker process: runs inputs [start, stop) of one target under a memory cap and a
per-input alarm, and writes one JSON line per finding and a last line with its counts.

The index of the input being run is kept in a shared file (`--progress`), so when this process
dies without a word (the memory cap, a hard crash) the parent knows which input did it."""

import argparse
import json
import mmap
import os
import resource
import signal
import struct
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets  # noqa: E402


class InputTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise InputTimeout("input ran past the per-input timeout")


def signature(exc):
    """Where a finding happened, so that one bug found a thousand times is reported once."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "/fuzz/" not in f.filename] or frames
    where = "%s:%d" % (Path(own[-1].filename).name, own[-1].lineno) if own else "?"
    if type(exc).__name__ == "PropertyError":
        return "PropertyError:%s" % str(exc).split(":")[0][:60]
    return "%s@%s" % (type(exc).__name__, where)


def run_one(target, data, info, timeout):
    """None, or (signature, text) of the finding this input is."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        target.check(data, info)
    except Exception as e:  # noqa: BLE001 - every undeclared exception is a finding
        return signature(e), "".join(traceback.format_exception(type(e), e, e.__traceback__))[-3000:]
    except RecursionError as e:
        return signature(e), str(e)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--memory-mb", type=int, default=1024)
    ap.add_argument("--progress")
    a = ap.parse_args(argv)
    cap = a.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    signal.signal(signal.SIGALRM, _alarm)
    target = targets.get(a.target)
    mark = None
    if a.progress:
        fd = os.open(a.progress, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, 8)
        mark = mmap.mmap(fd, 8)
    seen = set()
    t0 = time.monotonic()
    found = 0
    for i in range(a.start, a.stop):
        if mark is not None:
            struct.pack_into("<q", mark, 0, i)
        data, info = targets.input_for(target, a.seed, i)
        try:
            hit = run_one(target, data, info, a.timeout)
        except MemoryError:
            hit = ("MemoryError", "over the %d MB cap" % a.memory_mb)
        except InputTimeout:  # the alarm fired outside check()
            hit = ("InputTimeout", "")
        if hit is not None:
            found += 1
            if hit[0] not in seen:
                seen.add(hit[0])
                print(json.dumps({"finding": hit[0], "index": i, "info": info, "text": hit[1]}), flush=True)
    print(json.dumps({"done": a.stop - a.start, "findings": found, "seconds": time.monotonic() - t0}), flush=True)


if __name__ == "__main__":
    main()
