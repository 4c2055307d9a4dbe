"""Bundles at boot: which copy of each installed bundle runs, its trial, and the application's start.

Filled in by the boot stage (stage.main, from boot.py); /main.py calls start().
"""

# The application the stage chose this boot: (bundle name, entry), or None (nothing starts).
_app = None


def start():
    """Start the application bundle's entry point (`module`: imported; `module:function`:
    called), as the boot stage chose it in this boot; nothing when it chose none."""
    if _app is None:
        return
    resolve(_app[1])


def resolve(text):
    """`module` (dotted) imported, or `module:function` called; returns what it gave."""
    name, _, function = text.partition(":")
    module = __import__(name)
    for part in name.split(".")[1:]:
        module = getattr(module, part)
    return getattr(module, function)() if function else module
