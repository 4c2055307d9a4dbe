"""`make bench`: run every bench/bench_*.py module's main() in turn.

Each benchmark measures ratios against a reference run in the same process (never timed
assertions); pass module names (e.g. `ed25519`) to run only those.
"""

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv):
    wanted = set(argv)
    failed = []
    for path in sorted(HERE.glob("bench_*.py")):
        topic = path.stem[len("bench_"):]
        if wanted and topic not in wanted:
            continue
        print("=" * 72)
        print("bench: %s" % topic)
        print("=" * 72, flush=True)
        started = time.perf_counter()
        try:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.main()
        except Exception:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            failed.append(topic)
        print("(%s took %.1f s)\n" % (topic, time.perf_counter() - started), flush=True)
    if failed:
        print("benchmarks that failed: %s" % ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
