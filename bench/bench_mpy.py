"""The device package as .mpy (mpy-cross) against its source, on real MicroPython (WebAssembly
port 1.27: a real ESP32 differs in speed, not in what is compiled or kept):

- filesystem: bytes of lib/mpboot_fw/ and the LittleFS blocks of the whole vfs (boot.py, the
  package, mpboot.json, the test app) as flash-image writes it;
- import of the boot stage (`from mpboot_fw import stage`, what boot.py does), a module a run,
  leaves first: this port collects garbage only between runs, so each run's allocation is the
  compiler's garbage plus what the module keeps, and the live heap after it is what stays. The
  peak bound is max over modules of (live before + allocated): on a device the compiler's parse
  tree of the module being imported sits on top of everything imported before it;
- the time of that import in one run, and of whole boots on the emulated board (trial-only:
  the import dominates; every-boot: plus the image's hash and signature check).

Each figure is .mpy against .py in the same process, interleaved, as a ratio.
"""

import ast
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import bootstage  # noqa: E402
from emuboard import new_flash  # noqa: E402
from mpboot import boards, mpycross, provision, resources  # noqa: E402
from mpboot.emulator.vfs import build_image, mount  # noqa: E402
from mpboot.mpy.runtime import MicroPython  # noqa: E402
from mpboot_fw import statelog  # noqa: E402

BOOTS = 12
IMPORT_RUNS = 15
KINDS = ("py", "mpy")


def import_order(top="stage"):
    """The package's modules that `from mpboot_fw import <top>` loads, each after the ones it
    imports at module level (post-order)."""
    src = resources.device_package_dir()
    order = []

    def visit(name):
        if name in order:
            return
        tree = ast.parse((src / (name + ".py")).read_text())
        for node in _module_level(tree.body):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mpboot_fw"):
                sub = node.module.split(".")[1:]
                for dep in sub or [a.name for a in node.names]:
                    visit(dep)
        order.append(name)

    visit(top)
    return order


def _module_level(body):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _module_level(getattr(node, field, []) or [])


def files(kind, version):
    # The scenario tests' app (main.py, app_health.py) and settings.
    return provision.device_files(bootstage.BOARD, {"/main.py": bootstage.MAIN, "/app_health.py": bootstage.HEALTH},
                                  mpy=version if kind == "mpy" else None, health="app_health:check",
                                  health_ms=bootstage.HEALTH_MS)


def filesystem(device):
    out = {}
    vfs = bootstage.BOARD.partition(boards.VFS_PARTITION)
    for kind in KINDS:
        pkg = sum(len(d) for p, d in device[kind].items() if p.startswith(mpycross.COMPILED_DIR))
        fs = mount(bytearray(build_image(vfs.size, device[kind])))
        out[kind] = (pkg, fs.used_block_count)
    print("%-28s py %7d    mpy %7d    (mpy/py %.2f)"
          % ("lib/mpboot_fw/ bytes:", out["py"][0], out["mpy"][0], out["mpy"][0] / out["py"][0]))
    print("%-28s py %7d    mpy %7d    (mpy/py %.2f)"
          % ("vfs LittleFS blocks (4 KiB):", out["py"][1], out["mpy"][1], out["mpy"][1] / out["py"][1]))


def import_heap(mp, device, order):
    result = {}
    for kind in KINDS:
        mp.boot()
        for path, data in device[kind].items():
            if path.startswith(mpycross.COMPILED_DIR):
                mp.put_file(path, data)
        mp.run("import gc, sys").check()
        idle = mp.live_heap()
        live, bounds, allocs = 0, {}, {}
        for name in order:
            allocs[name] = int(mp.run("_a = gc.mem_alloc()\nfrom mpboot_fw import %s\nprint(gc.mem_alloc() - _a)\n"
                                      "del _a" % name).check().split()[-1])
            bounds[name] = live + allocs[name]
            live = mp.live_heap() - idle
        result[kind] = dict(live=live, bounds=bounds, allocs=allocs)
    py, mpy = result["py"], result["mpy"]
    top = max(py["bounds"], key=py["bounds"].get)
    for label, a, b in (
            ("import peak bound", max(py["bounds"].values()), max(mpy["bounds"].values())),
            ("  the other steps' peak", *(max(v for m, v in r["bounds"].items() if m != top) for r in (py, mpy))),
            ("allocated by the import", sum(py["allocs"].values()), sum(mpy["allocs"].values())),
            ("kept after the import", py["live"], mpy["live"])):
        print("%-28s py %6.1f KiB  mpy %6.1f KiB  (mpy/py %.2f)" % (label + ":", a / 1024, b / 1024, b / a))
    print("  (the peak is the %s step's: it allocates %.1f KiB as .py and %.1f KiB as .mpy, mostly the garbage "
          "of what it computes at import, which a device collects as it goes)"
          % (top, py["allocs"][top] / 1024, mpy["allocs"][top] / 1024))


def import_time(mp, device):
    times = {k: [] for k in KINDS}
    for _ in range(IMPORT_RUNS):
        for kind in KINDS:
            mp.boot()
            for path, data in device[kind].items():
                if path.startswith(mpycross.COMPILED_DIR):
                    mp.put_file(path, data)
            start = time.perf_counter()
            mp.run("from mpboot_fw import stage").check()
            times[kind].append(time.perf_counter() - start)
    py, mpy = statistics.median(times["py"]), statistics.median(times["mpy"])
    print("%-28s py %6.1f ms    mpy %6.1f ms    (mpy/py %.2f; median of %d)" % ("import of the boot stage:",
          py * 1e3, mpy * 1e3, mpy / py, IMPORT_RUNS))


def boot_time(mp, device):
    image = bootstage.signed("1.0.0", 1)
    for policy in ("trial-only", "every-boot"):
        times = {k: [] for k in KINDS}
        boards_ = {}
        for kind in KINDS:
            d = dict(device[kind])
            d["/mpboot.json"] = provision.device_files(bootstage.BOARD, policy=policy, health="app_health:check",
                                                       health_ms=bootstage.HEALTH_MS)["/mpboot.json"]
            flash = new_flash(d, slots={0: image})
            statelog.format_partition(bootstage.state_dev(flash), bootstage.ROOT, floor=1)
            boards_[kind] = bootstage.board(flash, mp)
            boards_[kind].boot()  # the first boot counts its own records; not timed
        for _ in range(BOOTS):
            for kind in KINDS:
                r = boards_[kind].boot()
                assert bootstage.app_line(r), r.text
                times[kind].append(r.seconds)
        py, mpy = statistics.median(times["py"]), statistics.median(times["mpy"])
        print("%-28s py %6.1f ms    mpy %6.1f ms    (mpy/py %.2f; median of %d)"
              % ("boot, %s:" % policy, py * 1e3, mpy * 1e3, mpy / py, BOOTS))


def main():
    mp = MicroPython()
    try:
        mp.boot()
        version = mpycross.from_sys(int(mp.run("import sys\nprint(sys.implementation._mpy)").check()))
        device = {kind: files(kind, version) for kind in KINDS}
        order = import_order()
        binary = mpycross.compiler(version)
        print("compiled by %s for .mpy %s (the board's sys.implementation._mpy); the boot stage imports %d "
              "modules: %s" % (binary.relative_to(binary.parents[1]), version, len(order), " ".join(order)))
        filesystem(device)
        import_heap(mp, device, order)
        import_time(mp, device)
        boot_time(mp, device)
    finally:
        mp.close()


if __name__ == "__main__":
    main()
