"""Webhook settings and the delivery log; a failed delivery can be queued again."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.access import call_api, load_user
from admin_ui.sessions import Viewer
from admin_ui.web import (
    PREFIX,
    PageError,
    Pages,
    local_path,
    redirect,
    render,
    services_of,
)
from appliance.api.endpoint import format_validation_error
from appliance.api.routes import user as user_api
from appliance.api.schemas import WEBHOOK_EVENTS, WebhookSettings
from appliance.db.models import User, WebhookDelivery

pages = Pages()
LOG_SIZE = 50


def _subject_id(request: Request, viewer: Viewer) -> int | None:
    """Whose settings the page shows: the user's own, or the one an administrator picked."""
    if not viewer.is_admin:
        return viewer.user_id
    picked = request.query_params.get("user_id", "")
    return int(picked) if picked.isdigit() else None


@pages.get("/webhooks")
async def webhooks_page(request: Request, viewer: Viewer) -> Response:
    subject_id = _subject_id(request, viewer)
    subject = await load_user(request, subject_id) if subject_id is not None else None
    query = select(WebhookDelivery, User.email).join(User, User.id == WebhookDelivery.user_id)
    if subject_id is not None:
        query = query.where(WebhookDelivery.user_id == subject_id)
    async with services_of(request).db.session() as session:
        deliveries = (await session.execute(query.order_by(WebhookDelivery.id.desc()).limit(LOG_SIZE))).all()
        users = (await session.scalars(select(User).order_by(User.email))).all() if viewer.is_admin else []
    return await render(
        request, viewer, "webhooks.html", subject=subject, deliveries=deliveries, users=users,
        events=list(WEBHOOK_EVENTS),
    )


@pages.post("/webhooks/{user_id:int}")
async def save_settings(request: Request, viewer: Viewer) -> Response:
    user_id = request.path_params["user_id"]
    if not viewer.is_admin and user_id != viewer.user_id:
        raise PageError(404, "There is no such user for you to change.")
    form = await request.form()
    try:
        body = WebhookSettings(
            webhook_url=str(form.get("webhook_url") or "").strip(),
            webhook_secret=str(form.get("webhook_secret") or "") or None,
            webhook_events=[str(e) for e in form.getlist("webhook_events")] or None,
        )
    except ValidationError as exc:
        raise PageError(422, format_validation_error(exc, "")) from exc
    user = await load_user(request, user_id)
    await call_api(request, user_api.set_webhook, {}, user=user, body=body)
    back = f"{PREFIX}/webhooks" + (f"?user_id={user_id}" if viewer.is_admin else "")
    return await redirect(request, viewer, back, "Webhook settings saved.")


@pages.post("/webhooks/deliveries/{delivery_id:int}/retry")
async def retry(request: Request, viewer: Viewer) -> Response:
    services = services_of(request)
    delivery_id = request.path_params["delivery_id"]
    async with services.db.session() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None or not (viewer.is_admin or delivery.user_id == viewer.user_id):
            raise PageError(404, f"There is no delivery {delivery_id} for you.")
        if delivery.status != "failed":
            raise PageError(409, f"Delivery {delivery_id} is {delivery.status}; only failed ones are retried.")
        delivery.status, delivery.next_retry_at = "pending", None
        await session.commit()
    await asyncio.to_thread(services.queue.deliver_webhook, delivery_id)
    back = local_path(request.headers.get("referer"), f"{PREFIX}/webhooks")
    return await redirect(request, viewer, back,
                          f"Delivery {delivery_id} ({delivery.event_type}) queued again.")
