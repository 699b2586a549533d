"""Worker side: one delivery attempt at a time, each logged, retried with growing delays.

Retried: timeouts, connection errors, 429 and 5xx. Final: any other 4xx, a refused target, or
the retry window (24 h by default) running out. A delivery is claimed (`pending` -> `sending`)
in one UPDATE, so the scheduled task and the sweep never send it twice at once.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from functools import lru_cache
from typing import Any

import httpx
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from appliance.config import Settings
from appliance.db.engine import create_sync_engine
from appliance.db.models import User, WebhookDelivery, utcnow
from appliance.webhooks.signing import signature_headers
from appliance.webhooks.targets import TargetRefused, check_resolved

log = logging.getLogger(__name__)
# A claim older than this belongs to a worker that died mid-send.
STALE_CLAIM = timedelta(minutes=2)
USER_AGENT = "Vomeet-Webhooks/1"


@lru_cache(maxsize=4)
def engine_for(settings: Settings) -> Engine:
    return create_sync_engine(settings)


def retry_delay_s(settings: Settings, attempt: int) -> float:
    """10 s, 30 s, 90 s, ... capped at an hour (with the default base of 10 s)."""
    return min(3600.0, settings.webhook_retry_base_s * 3 ** (attempt - 1))


def _claim(session: Session, delivery_id: int) -> bool:
    now = utcnow()
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            or_(WebhookDelivery.next_retry_at.is_(None), WebhookDelivery.next_retry_at <= now),
        )
        .values(status="sending", updated_at=now)
    )
    session.commit()
    return claimed.rowcount == 1


def _send(settings: Settings, delivery: WebhookDelivery, secret: str | None) -> tuple[int | None, str | None, bool]:
    """One POST; returns (status code, error, retryable)."""
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    headers.update(signature_headers(secret, int(time.time()), body))
    try:
        check_resolved(delivery.url, settings.webhook_allow_internal_targets)
        answer = httpx.post(
            delivery.url, content=body, headers=headers, timeout=settings.webhook_timeout_s,
            follow_redirects=False,
        )
    except TargetRefused as exc:
        return None, str(exc), False
    except (httpx.TimeoutException, httpx.TransportError, ConnectionError) as exc:
        return None, f"{type(exc).__name__}: {exc}", True
    code = answer.status_code
    if 200 <= code < 300:
        return code, None, False
    retryable = code == 429 or code >= 500
    return code, f"HTTP {code}: {answer.text[:200]}", retryable


def deliver(settings: Settings, delivery_id: int) -> float | None:
    """Attempt a delivery. Returns the delay before the next attempt, or None when settled."""
    with Session(engine_for(settings), expire_on_commit=False) as session:
        if not _claim(session, delivery_id):
            return None
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        user = session.get(User, delivery.user_id)
        started = time.monotonic()
        code, error, retryable = _send(settings, delivery, user.webhook_secret if user else None)
        now = utcnow()
        delivery.attempt += 1
        delivery.status_code = code
        delivery.last_error = error
        record: dict[str, Any] = {
            "attempt": delivery.attempt, "at": now.isoformat(), "status_code": code,
            "error": error, "duration_ms": round((time.monotonic() - started) * 1000),
        }
        delivery.attempts = [*(delivery.attempts or []), record]
        delay: float | None = None
        if error is None:
            delivery.status, delivery.next_retry_at = "delivered", None
        elif retryable and now + timedelta(seconds=retry_delay_s(settings, delivery.attempt)) < (
            delivery.created_at + timedelta(seconds=settings.webhook_retry_window_s)
        ):
            delay = retry_delay_s(settings, delivery.attempt)
            delivery.status, delivery.next_retry_at = "pending", now + timedelta(seconds=delay)
        else:
            delivery.status, delivery.next_retry_at = "failed", None
        session.commit()
    log.info(
        "webhook %s (%s) attempt %d: %s", delivery.event_id, delivery.event_type, delivery.attempt,
        delivery.status if error is None else f"{delivery.status} ({error})",
    )
    return delay


def due_deliveries(settings: Settings) -> list[int]:
    """Deliveries owed now: pending and due, or claimed by a worker that died."""
    now = utcnow()
    with Session(engine_for(settings)) as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == "sending", WebhookDelivery.updated_at < now - STALE_CLAIM)
            .values(status="pending")
        )
        session.commit()
        rows = session.scalars(
            select(WebhookDelivery.id).where(
                WebhookDelivery.status == "pending",
                or_(WebhookDelivery.next_retry_at.is_(None), WebhookDelivery.next_retry_at <= now),
            )
        )
        return list(rows.all())
