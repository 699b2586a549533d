"""Serving HTTPS: the server's SSLContext, and the watcher that swaps its certificate in place.

The context is loaded again (`load_cert_chain` on the same object) when the served files change
or a staged certificate falls due: new connections get the new certificate, open ones keep the
one they shook hands with, and nothing restarts. That is how `vomeet tls rotate --activate` and
`vomeet tls install` reach a running server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from pathlib import Path

from appliance.config import Settings
from appliance.tls.store import TlsError, TlsStore

log = logging.getLogger(__name__)
CHECK_INTERVAL_S = 2.0


def _identity(paths: tuple[Path, Path]) -> tuple[tuple[str, int, int], ...]:
    """What changes when a file is replaced: where its link leads, its inode and its mtime."""
    out = []
    for path in paths:
        stat = path.stat()
        out.append((os.path.realpath(path), stat.st_ino, stat.st_mtime_ns))
    return tuple(out)


class ServedCertificate:
    """The LAN listener's SSLContext and what it was loaded from."""

    def __init__(self, settings: Settings) -> None:
        self.store = TlsStore(settings)
        self.store.ensure()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._loaded: tuple[tuple[str, int, int], ...] = ()
        self.load()

    def load(self) -> None:
        paths = self.store.serving_paths()
        identity = _identity(paths)
        # Tried on a context of its own first: a failed load_cert_chain can leave a context with
        # the new certificate and no key, which would fail every handshake from then on.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(str(paths[0]), str(paths[1]))
        self.context.load_cert_chain(str(paths[0]), str(paths[1]))
        self._loaded = identity
        log.info("serving HTTPS with certificate %s", self.store.current().fingerprint)

    def refresh(self) -> bool:
        """Activate a staged certificate that is due, and load the files if they changed;
        True when the served certificate changed. A broken replacement is logged and the
        previous certificate kept, so a bad `install` never takes the console down."""
        try:
            if self.store.activate_if_due() is not None:
                log.info("the staged certificate fell due and is now current")
            if _identity(self.store.serving_paths()) == self._loaded:
                return False
            self.load()
        except (OSError, ssl.SSLError, TlsError) as exc:
            log.error("could not load the new certificate, still serving the previous one: %s", exc)
            return False
        return True

    async def watch(self, interval_s: float = CHECK_INTERVAL_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.refresh()
