"""Run the mpboot CLI in-process for tests and check the contract for failures:
exit status 1, exactly one `mpboot: error:` line on stderr, nothing on stdout."""

from mpboot import cli


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


def run(capsys, *argv):
    capsys.readouterr()
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out, err = capsys.readouterr()
    return Result(code, out, err)


def fails(capsys, *argv, match=None):
    """Run a command that must fail cleanly; return its one error line."""
    r = run(capsys, *argv)
    lines = r.err.splitlines()
    assert r.code == 1, (r.code, r.out, r.err)
    assert len(lines) == 1 and lines[0].startswith("mpboot: error: "), r.err
    assert r.out == "", r.out
    if match is not None:
        assert match in lines[0], (match, lines[0])
    return lines[0]
