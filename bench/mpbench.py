"""What the benchmarks that compare code on MicroPython share (bench_ed25519, bench_p256).

The part above Session runs on both interpreters: a benchmark module imports it on MicroPython
too (Session copies it and the module into MicroPython's filesystem).
"""

import gc

try:
    # MicroPython's WebAssembly port: the host process's CPU time in microseconds, not the wall
    # clock, so that other jobs on this shared machine do not skew the samples.
    from js import process

    def now_us():
        used = process.cpuUsage()
        return used.user + used.system

except ImportError:
    from time import perf_counter

    def now_us():
        return perf_counter() * 1e6


def time_us(fn, repeat):
    """Mean microseconds per call of fn() over `repeat` calls (fn must return a true value)."""
    assert fn()
    start = now_us()
    for _ in range(repeat):
        fn()
    return (now_us() - start) / repeat


def allocated(fn):
    """Bytes allocated by one fn() (MicroPython: gc off, so nothing is freed meanwhile)."""
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn()
    used = gc.mem_alloc() - before
    gc.enable()
    return used


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def stepwise_source(source):
    """A module's source with each function turned into a generator that yields at its start,
    at the top of every loop iteration and through every call of another of its functions
    (`yield from`). Stepping it one yield per top-level run lets this port collect
    garbage between steps (it never does inside a run), so the heap read after each step is
    the live heap at that point of the call. Generator frames sit on the heap where plain
    frames would not, so the figure errs a few hundred bytes high."""
    import ast

    tree = ast.parse(source)
    names = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}

    class Steps(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id in names:
                return ast.YieldFrom(value=node)
            return node

        def visit_loop(self, node):
            self.generic_visit(node)
            node.body.insert(0, ast.Expr(ast.Yield()))
            return node

        visit_For = visit_While = visit_loop

    class Drive(ast.NodeTransformer):  # module level: run a generator to its end
        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id in names:
                return ast.Call(ast.Name("_drive", ast.Load()), [node], [])
            return node

    for i, node in enumerate(tree.body):
        if isinstance(node, ast.FunctionDef):
            tree.body[i] = Steps().visit(node)
            tree.body[i].body.insert(0, ast.Expr(ast.Yield()))
        else:
            tree.body[i] = Drive().visit(node)
    drive = ast.parse(
        "def _drive(g):\n"
        "    try:\n"
        "        while True:\n"
        "            next(g)\n"
        "    except StopIteration as e:\n"
        "        return e.value\n"
    ).body[0]
    tree.body.insert(0, drive)
    return ast.unparse(ast.fix_missing_locations(tree))


class Session:
    """A MicroPython (WebAssembly port) with the device package, this module and the benchmark
    file `path`, imported as `b`. Each ask() is its own top-level run: this port collects
    garbage only between runs (gc.collect() inside a run just schedules one), so one long run
    would time a heap that keeps growing, and memory is read in the run after a collection."""

    def __init__(self, path):
        from pathlib import Path

        from mpboot.mpy.runtime import MicroPython

        self.path = Path(path)
        self.mp = MicroPython()

    def __enter__(self):
        self.mp.__enter__()
        self.mp.boot()
        self.mp.put_firmware()
        self.mp.put_file("/bench/mpbench.py", (self.path.parent / "mpbench.py").read_bytes())
        self.mp.put_file("/bench/" + self.path.name, self.path.read_bytes())
        self.run("import gc\nimport sys\nsys.path.append('/bench')")
        return self

    def __exit__(self, *exc):
        return self.mp.__exit__(*exc)

    def run(self, code):
        return self.mp.run(code).check()

    def ask(self, expr):
        return float(self.run("print(%s)" % expr))

    def heap(self):
        self.run("gc.collect()")
        return self.ask("gc.mem_alloc()")

    def import_bench(self):
        self.run("import %s as b" % self.path.stem)

    def peak_heap(self, module, setup, call):
        """The most live heap above idle at any step of `call` (an expression on `steps`, the
        stepwise_source of `module`), after running `setup`: (bytes, steps)."""
        from pathlib import Path

        self.mp.put_file("/lib/steps.py", stepwise_source(Path(module.__file__).read_text()))
        self.run("import steps\n%s\ng = None\ngc.collect()" % setup)
        idle = self.ask("gc.mem_alloc()")
        self.run("g = %s\ngc.collect()" % call)
        step = (
            "m = gc.mem_alloc()\n"
            "try:\n"
            "    next(g)\n"
            "    print(m, 0)\n"
            "except StopIteration as e:\n"
            "    print(m, 1 if e.value else 2)\n"
            "gc.collect()\n"
        )
        peak = steps = 0
        while True:
            used, state = self.run(step).split()
            peak = max(peak, float(used) - idle)
            steps += 1
            if state != "0":
                assert state == "1", "the stepwise call returned a false value"
                return peak, steps
