"""The log formatter masks secrets wherever they sit in a line: a URL, a header, a traceback."""

from __future__ import annotations

import io
import logging

from appliance.logging_redact import FORMAT, RedactingFormatter
from appliance.security import ADMIN_KEY_PREFIX, BOT_TOKEN_PREFIX, SHARE_PREFIX, USER_TOKEN_PREFIX, new_secret


def logged(*lines: tuple[str, tuple[object, ...]], exc: BaseException | None = None) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(RedactingFormatter(FORMAT))
    logger = logging.getLogger(f"test-redact-{id(out)}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for message, args in lines:
            logger.warning(message, *args)
        if exc is not None:
            try:
                raise exc
            except BaseException:
                logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_every_kind_of_token_is_masked_with_its_prefix_kept() -> None:
    secrets = [new_secret(p).value for p in (USER_TOKEN_PREFIX, ADMIN_KEY_PREFIX, BOT_TOKEN_PREFIX, SHARE_PREFIX)]
    text = logged(("tokens %s %s, share link /share/%s, protocol vomeet.key.%s", tuple(secrets)))
    for secret in secrets:
        assert secret[4:] not in text
        assert f"{secret[:4]}[redacted]" in text


def test_keys_without_a_prefix_are_masked_in_urls_and_headers() -> None:
    key = "a-file-admin-key-0123456789-0123456789"  # keys from VOMEET_ADMIN_API_KEY_FILE have no prefix
    text = logged(
        ('127.0.0.1:5 - "GET /meetings?limit=5&api_key=%s&x=1 HTTP/1.1" 401', (key,)),
        ("< x-admin-api-key: %s", (key,)),
        ("headers %r", ({"authorization": f"Bearer {key}"},)),
        ("headers %r", ([("X-API-Key", key)],)),
    )
    assert key not in text
    assert "api_key=[redacted]&x=1" in text and "x-admin-api-key: [redacted]" in text
    assert "'authorization': 'Bearer [redacted]'" in text and "('X-API-Key', '[redacted]')" in text


def test_a_traceback_is_masked_too() -> None:
    token = new_secret(USER_TOKEN_PREFIX).value
    text = logged(exc=ValueError(f"bad url ws://host/ws?api_key={token}"))
    assert "Traceback" in text and "ValueError: bad url" in text
    assert token[4:] not in text
