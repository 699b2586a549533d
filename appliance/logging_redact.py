"""No secret in any log line: API keys, admin keys, bot tokens and share ids are masked.

A secret can reach a log through a URL (`/ws?api_key=…` in uvicorn's access and WebSocket
lines), through headers the websockets library dumps at debug level, or through the text of
an exception. Masking the finished line (message and traceback) in the formatter of the
handler catches all of them, whatever code wrote it; `vomeet serve` hands uvicorn's loggers to
that handler too (no handlers of their own).
"""

from __future__ import annotations

import logging
import re

from appliance.security import ADMIN_KEY_PREFIX, BOT_TOKEN_PREFIX, SHARE_PREFIX, USER_TOKEN_PREFIX

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "[redacted]"
_PREFIXES = "|".join(re.escape(p) for p in (USER_TOKEN_PREFIX, ADMIN_KEY_PREFIX, BOT_TOKEN_PREFIX, SHARE_PREFIX))
# The prefix stays, so a reader still sees which kind of secret was there.
_TOKEN = re.compile(rf"({_PREFIXES})[A-Za-z0-9_-]{{6,}}")
# Whatever the value looks like: an admin key read from a file has no prefix.
_QUERY_KEY = re.compile(r"(?i)(api_key=)[^&\s\"'#]+")
# `X-API-Key: …`, `('x-api-key', '…')`, `{'authorization': 'Bearer …'}`: headers printed as
# text, as a tuple or as a dict.
_HEADER = re.compile(
    r"(?i)(x-api-key|x-admin-api-key|authorization)(['\"]?\s*[:=,]\s*['\"]?)(bearer\s+)?[^\s\"',)}]+"
)


# Secrets with no recognisable shape (a calendar feed's address, a CalDAV password), registered
# by whoever holds them in clear; masked wherever they appear.
_REGISTERED: set[str] = set()
MIN_REGISTERED_LENGTH = 6  # shorter strings would mask ordinary words


def register_secret(value: str) -> None:
    if len(value) >= MIN_REGISTERED_LENGTH:
        _REGISTERED.add(value)


def redact(text: str) -> str:
    for secret in tuple(_REGISTERED):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _HEADER.sub(rf"\1\2\3{MASK}", text)
    text = _QUERY_KEY.sub(rf"\1{MASK}", text)
    return _TOKEN.sub(rf"\1{MASK}", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str) -> None:
    """The process's one log handler: the journal with structured fields when journald runs
    this service (appliance.journal, every field masked too), else standard error."""
    from appliance import journal

    handler: logging.Handler
    if journal.available():
        handler = journal.JournalHandler(journal.process_fields())
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
