"""Worker side: one delivery attempt at a time, each logged, retried with growing delays.

Retried: timeouts, connection errors, 429 and 5xx. Final: any other 4xx, a refused target, or
the retry window (24 h by default) running out. A delivery is claimed (`pending` -> `sending`)
in one UPDATE, so the scheduled task and the sweep never send it twice at once. A user's
deliveries about one meeting go out in the order their events happened: one is claimed only
once every earlier one has settled (delivered or failed), and settling one hands on to the next.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from appliance.config import Settings
from appliance.db.engine import create_sync_engine, rowcount
from appliance.db.models import User, WebhookDelivery, utcnow
from appliance.faults import fault_point
from appliance.webhooks.signing import signature_headers
from appliance.webhooks.targets import TargetRefused, check_for_delivery
from asr.backoff import growing_delay_s

log = logging.getLogger(__name__)
# A claim older than this belongs to a worker that died mid-send.
STALE_CLAIM = timedelta(minutes=2)
USER_AGENT = "Vomeet-Webhooks/1"
UNSETTLED = ("pending", "sending")


@lru_cache(maxsize=4)
def engine_for(settings: Settings) -> Engine:
    return create_sync_engine(settings)


def retry_delay_s(settings: Settings, attempt: int) -> float:
    """10 s, 30 s, 90 s, ... capped at an hour (with the default base of 10 s)."""
    return growing_delay_s(settings.webhook_retry_base_s, 3, attempt - 1, cap_s=3600.0)


def _claim(session: Session, delivery_id: int) -> bool:
    now = utcnow()
    earlier = aliased(WebhookDelivery)
    waits_for_earlier = exists().where(
        earlier.user_id == WebhookDelivery.user_id,
        earlier.meeting_id == WebhookDelivery.meeting_id,
        earlier.id < WebhookDelivery.id,
        earlier.status.in_(UNSETTLED),
    )
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            or_(WebhookDelivery.next_retry_at.is_(None), WebhookDelivery.next_retry_at <= now),
            ~waits_for_earlier,
        )
        .values(status="sending", updated_at=now)
    )
    session.commit()
    return rowcount(claimed) == 1


def _next_in_line(session: Session, delivery: WebhookDelivery) -> int | None:
    """The user's next delivery about the same meeting, once this one has settled."""
    if delivery.status in UNSETTLED or delivery.meeting_id is None:
        return None
    return session.scalar(
        select(func.min(WebhookDelivery.id)).where(
            WebhookDelivery.user_id == delivery.user_id,
            WebhookDelivery.meeting_id == delivery.meeting_id,
            WebhookDelivery.id > delivery.id,
            WebhookDelivery.status == "pending",
        )
    )


def _send(settings: Settings, delivery: WebhookDelivery, secret: str | None) -> tuple[int | None, str | None, bool]:
    """One POST; returns (status code, error, retryable)."""
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    headers.update(signature_headers(secret, int(time.time()), body))
    try:
        target = check_for_delivery(delivery.url, settings.webhook_allow_internal_targets)
        # To the address just checked, not to a second lookup of the name; the name stays in
        # the Host header and, for https, in the TLS server name the certificate is checked against.
        headers["Host"] = urlsplit(delivery.url).netloc.rpartition("@")[2]
        with httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False) as client:
            answer = client.post(
                target.pinned_url(), content=body, headers=headers, extensions={"sni_hostname": target.host}
            )
        fault_point("delivery.after_post")
    except TargetRefused as exc:
        return None, str(exc), False
    except (httpx.TimeoutException, httpx.TransportError, ConnectionError) as exc:
        return None, f"{type(exc).__name__}: {exc}", True
    code = answer.status_code
    if 200 <= code < 300:
        return code, None, False
    if 300 <= code < 400:  # a redirect could lead around the target policy
        return code, f"HTTP {code}: redirects are not followed; set the final URL as the webhook URL", False
    retryable = code == 429 or code >= 500
    return code, f"HTTP {code}: {answer.text[:200]}", retryable


@dataclass(frozen=True)
class Outcome:
    retry_in_s: float | None = None  # the next attempt of this delivery, if one is due
    next_delivery: int | None = None  # the next delivery in line, now free to go


def deliver(settings: Settings, delivery_id: int) -> Outcome:
    """Attempt a delivery (if it is owed now and its turn has come)."""
    with Session(engine_for(settings), expire_on_commit=False) as session:
        if not _claim(session, delivery_id):
            return Outcome()
        fault_point("delivery.after_claim")
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        user = session.get(User, delivery.user_id)
        started = time.monotonic()
        try:
            code, error, retryable = _send(settings, delivery, user.webhook_secret if user else None)
        except Exception as exc:  # a bug must not leave the claim held: record it and retry
            log.exception("webhook %s: unexpected error while sending", delivery.event_id)
            code, error, retryable = None, f"internal error: {type(exc).__name__}", True
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
        following = _next_in_line(session, delivery)
    log.info(
        "webhook %s (%s) attempt %d: %s", delivery.event_id, delivery.event_type, delivery.attempt,
        delivery.status if error is None else f"{delivery.status} ({error})",
    )
    return Outcome(delay, following)


def release_claims(settings: Settings) -> int:
    """At worker start: claims left by a worker that died mid-send are owed again. (One worker
    consumes the queue, so at its start no live worker holds a claim.)"""
    with Session(engine_for(settings)) as session:
        released = rowcount(session.execute(
            update(WebhookDelivery).where(WebhookDelivery.status == "sending").values(status="pending")
        ))
        session.commit()
    return released


def due_deliveries(settings: Settings) -> list[int]:
    """Deliveries owed now, oldest first: pending and due, or claimed by a worker that died."""
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
            ).order_by(WebhookDelivery.id)
        )
        return list(rows.all())
