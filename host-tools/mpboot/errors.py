"""The one error type the CLI turns into a one-line message and a non-zero exit."""


class MpbootError(Exception):
    """A user-facing failure: the message says what is wrong and, where it can, the fix."""

    exit_code = 1
