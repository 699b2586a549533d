"""The user's own webhook settings and delivery log (contract sections 3 and 7)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.api.schemas import DeliveryList, DeliveryOut, Paging, UserOut, WebhookOut, WebhookSettings
from appliance.api.views import user_view, webhook_view
from appliance.db.models import User, WebhookDelivery, utcnow
from appliance.webhooks.targets import TargetRefused, check_saved

api = Api()
TAG = "user"


@api.endpoint(
    "PUT", "/user/webhook", summary="Set where and what webhooks are sent", tag=TAG, auth=Auth.USER,
    body=WebhookSettings, responses={200: UserOut, 422: "invalid URL or event"},
)
async def set_webhook(request: Request, user: User, body: WebhookSettings) -> Response:
    services = services_of(request)
    try:  # a name is resolved: off the event loop
        await asyncio.to_thread(check_saved, body.webhook_url, services.settings.webhook_allow_internal_targets)
    except TargetRefused as exc:
        raise ApiError(422, f"body.webhook_url: {exc}") from exc
    async with services.db.session() as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.webhook_url = body.webhook_url
        if body.webhook_secret is not None:
            stored.webhook_secret = body.webhook_secret
        stored.webhook_events = body.webhook_events
        await session.commit()
    return ModelResponse(user_view(stored))


@api.endpoint(
    "GET", "/user/webhook", summary="Read back the webhook settings", tag=TAG, auth=Auth.USER,
    responses={200: WebhookOut},
)
async def get_webhook(request: Request, user: User) -> Response:
    return ModelResponse(webhook_view(user))


@api.endpoint(
    "DELETE", "/user/webhook", summary="Remove the webhook (no more events are sent)", tag=TAG,
    auth=Auth.USER, responses={204: "removed (also when there was none)"},
)
async def delete_webhook(request: Request, user: User) -> Response:
    async with services_of(request).db.session() as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.webhook_url = stored.webhook_secret = stored.webhook_events = None
        # What was still owed is not sent to a target the user has removed; the log keeps it.
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.user_id == user.id, WebhookDelivery.status == "pending")
            .values(status="failed", next_retry_at=None, last_error="the webhook was removed", updated_at=utcnow())
        )
        await session.commit()
    return Response(status_code=204)


@api.endpoint(
    "GET", "/user/webhook/deliveries", summary="Recent webhook deliveries", tag=TAG, auth=Auth.USER,
    query=Paging, responses={200: DeliveryList},
)
async def list_deliveries(request: Request, user: User, query: Paging) -> Response:
    async with services_of(request).db.session() as session:
        rows = (
            await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.user_id == user.id)
                .order_by(WebhookDelivery.id.desc()).limit(query.limit).offset(query.skip)
            )
        ).all()
    return ModelResponse(DeliveryList(deliveries=[DeliveryOut.model_validate(r) for r in rows]))
