"""The files a device needs on its filesystem to update over the air (docs/updater.md):

    /mpboot-ota.json     where updates come from (checked with the device's own otaconfig)
    /mpboot-ca.pem       the CA the update server's certificate must chain to
    /mpboot-client.pem   optional: a client certificate, and /mpboot-client.key its key

`mpboot device-files` and `mpboot provision` write them from their --update-* options (for
`mpboot flash-image --files`, or onto a running board); `make demo` copies them onto a device.
"""

import json
from pathlib import Path

from mpboot.errors import MpbootError
from mpboot_fw import otaconfig

CA = "/mpboot-ca.pem"
CLIENT_CERT = "/mpboot-client.pem"
CLIENT_KEY = "/mpboot-client.key"
PRIVATE = (CLIENT_KEY, otaconfig.PATH)  # may hold a key or a token: written for the owner only


def ota_files(url, ca, cert=None, key=None, token=None, stale_after=None):
    """{"/path": bytes} for a device that updates from the repository at `url` (https), whose
    server certificate chains to the CA certificate in file `ca`; `cert`/`key`: files of a
    client certificate and key; `token`: a bearer token; `stale_after`: seconds (see otaconfig)."""
    doc = {"url": url, "ca": CA}
    files = {CA: _read(ca, "--update-ca")}
    if b"-----BEGIN CERTIFICATE-----" not in files[CA]:
        raise MpbootError("%s is not a PEM certificate: give the CA that `mpboot serve` prints (ca.pem)" % ca)
    if (cert is None) != (key is None):
        raise MpbootError("a client certificate needs its key, and the key its certificate: give both")
    if cert is not None:
        doc.update(cert=CLIENT_CERT, key=CLIENT_KEY)
        files[CLIENT_CERT] = _read(cert, "client certificate")
        files[CLIENT_KEY] = _read(key, "client key")
    if token is not None:
        doc["token"] = token
    if stale_after is not None:
        doc["stale_after"] = stale_after
    try:
        otaconfig.check(dict(doc))
    except otaconfig.OtaConfigError as e:
        raise MpbootError("update configuration: %s" % e) from None
    files[otaconfig.PATH] = json.dumps(doc, sort_keys=True).encode()
    return files


def _read(path, what):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise MpbootError("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None
