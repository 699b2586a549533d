"""The Devices page: desktop clients discovered on the LAN, asking to pair, paired, revoked;
approving a request (for oneself, or an administrator for anyone), rejecting, revoking."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.sessions import Viewer
from admin_ui.web import PREFIX, PageError, Pages, redirect, render, services_of
from appliance.db.models import Device, PairingRequest, User
from appliance.devices.codes import pairing_code, shown

pages = Pages()
BACK = f"{PREFIX}/devices"


@dataclass(frozen=True)
class Asking:
    request: PairingRequest
    code: str


def code_of(request: PairingRequest) -> str:
    """The code the console shows: from the certificate the appliance served when asked."""
    raw = base64.b64decode
    return shown(pairing_code(request.fingerprint, raw(request.public_key), raw(request.client_nonce),
                              raw(request.server_nonce)))


def _approver(viewer: Viewer) -> str:
    return f"administrator {viewer.name}" if viewer.is_admin else viewer.name


@pages.get("/devices")
async def devices_page(request: Request, viewer: Viewer) -> Response:
    devices = services_of(request).devices
    asking = [Asking(r, code_of(r)) for r in await devices.pairing.waiting()]
    discovered = await devices.sightings.discovered()
    mine = await devices.paired.of_user(None if viewer.is_admin else viewer.user_id)
    async with services_of(request).db.session() as session:
        emails = dict((await session.execute(select(User.id, User.email))).tuples().all())
    users = sorted(emails.items(), key=lambda item: item[1]) if viewer.is_admin else []
    return await render(
        request, viewer, "devices.html", asking=asking, discovered=discovered, users=users, emails=emails,
        paired=[d for d in mine if d.revoked_at is None], revoked=[d for d in mine if d.revoked_at is not None],
    )


@pages.post("/devices/requests/{request_id:int}/approve")
async def approve(request: Request, viewer: Viewer) -> Response:
    user_id = viewer.user_id
    if viewer.is_admin:
        picked = str((await request.form()).get("user_id") or "")
        if not picked.isdigit():
            raise PageError(422, "Choose the user this device will act for.")
        user_id = int(picked)
    assert user_id is not None
    services = services_of(request)
    approval = await services.devices.pairing.approve(request.path_params["request_id"], user_id, _approver(viewer))
    if approval.replaced_token_id is not None:
        services.live.sockets.withdraw("device paired again", token_id=approval.replaced_token_id)
    return await redirect(request, viewer, BACK, f"{approval.device.name} is paired; it collects its token now.")


@pages.post("/devices/requests/{request_id:int}/reject")
async def reject(request: Request, viewer: Viewer) -> Response:
    rejected = await services_of(request).devices.pairing.reject(request.path_params["request_id"], _approver(viewer))
    return await redirect(request, viewer, BACK, f"The request from {rejected.name} was rejected.")


@pages.post("/devices/{device_id:int}/revoke")
async def revoke(request: Request, viewer: Viewer) -> Response:
    services = services_of(request)
    device_id = request.path_params["device_id"]
    token_id = await services.devices.paired.revoke(device_id, None if viewer.is_admin else viewer.user_id)
    if token_id is not None:
        services.live.sockets.withdraw("device revoked", token_id=token_id)
    async with services.db.session() as session:
        device = await session.get(Device, device_id)
    name = device.name if device else f"Device {device_id}"
    return await redirect(request, viewer, BACK, f"{name} was revoked; it must be paired again to connect.")
