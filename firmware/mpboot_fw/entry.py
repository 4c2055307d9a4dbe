"""The application's entry point, as config and bundle manifests name it: "module" (may be
dotted) or "module:function". Small on purpose: /main.py imports it after the fixed loader has
let the boot stage's modules go (docs/loader.md)."""


def resolve(text):
    """The module named by `module`, or the function named by `module:function`."""
    name, _, function = text.partition(":")
    module = __import__(name)
    for part in name.split(".")[1:]:
        module = getattr(module, part)
    return getattr(module, function) if function else module


def start(entry):
    """Start the application the boot stage chose (`module`: imported; `module:function`:
    imported and called); nothing for None."""
    if entry is not None:
        target = resolve(entry)
        if ":" in entry:
            target()
