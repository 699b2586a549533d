"""Pairing a desktop client, and a user's own devices (issue 15, item 4; docs/pairing.md).

The two pairing endpoints are public: the request is rate-limited per client address, and the
poll is rate-limited per request and must be signed with the key the request was made with.
Approving is done by a person on the console, never through the API.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.db.models import User
from appliance.devices.limits import normalised_address
from appliance.devices.paired import device_state
from appliance.devices.pairing import Ask, BadSignature, Throttled

api = Api()
TAG = "devices"
SIGNATURE_HEADER = "x-device-signature"


class PairAsk(BaseModel):
    model_config = ConfigDict(extra="ignore")

    device_id: str = Field(min_length=1, max_length=64, description="The client's own id (a UUID it keeps).")
    name: str = Field(min_length=1, max_length=200, description="Shown on the console (a computer's name).")
    version: str = Field("", max_length=50, description="The client's version.")
    public_key: str = Field(max_length=64, description="Base64 of the raw 32-byte Ed25519 public key.")
    nonce: str = Field(max_length=32, description="Base64 of 16 random bytes.")


class PairStarted(BaseModel):
    request_id: str
    server_nonce: str = Field(description="Base64 of 16 bytes; goes into the code.")
    expires_at: datetime
    fingerprint: str = Field(description="The certificate the appliance serves now (64 hex).")


class PairState(BaseModel):
    state: str = Field(description="pending, approved, rejected or expired")
    expires_at: datetime
    detail: str = Field(description="What to tell the person.")
    token: str | None = Field(None, description="The device token: in the first approved answer only.")
    user: str | None = Field(None, description="Whom the token acts for (with `token`).")


class DeviceOut(BaseModel):
    id: int
    device_id: str
    name: str
    version: str
    state: str = Field(description="paired or revoked")
    paired_at: datetime
    last_seen_at: datetime | None
    last_address: str | None
    revoked_at: datetime | None


class DeviceList(BaseModel):
    devices: list[DeviceOut]


def _address(request: Request) -> str:
    return normalised_address(request.client.host if request.client else "unknown")


def _throttled(exc: Throttled) -> ApiError:
    return ApiError(429, exc.detail, {"Retry-After": str(exc.retry_after_s)})


@api.endpoint(
    "POST", "/devices/pair", summary="Ask to pair a device (confirmed by a person on the console)",
    tag=TAG, auth=Auth.PUBLIC, body=PairAsk,
    responses={201: PairStarted, 409: "TLS is off: pairing needs it", 422: "a malformed key or nonce",
               429: "too many requests from this address, or waiting on the console (Retry-After)"},
)
async def ask_to_pair(request: Request, body: PairAsk) -> Response:
    ask = Ask(body.device_id, body.name, body.version, body.public_key, body.nonce, _address(request))
    try:
        started = await services_of(request).devices.pairing.ask(ask)
    except Throttled as exc:
        raise _throttled(exc) from exc
    return ModelResponse(
        PairStarted(request_id=started.request_id, server_nonce=started.server_nonce,
                    expires_at=started.expires_at, fingerprint=started.fingerprint),
        201,
    )


@api.endpoint(
    "GET", "/devices/pair/{request_id}", summary="A pairing request's state; the device token, once",
    tag=TAG, auth=Auth.PUBLIC,
    responses={200: PairState, 401: "X-Device-Signature missing or not made with the request's key",
               404: "no such request (start pairing again)", 429: "polling too often (Retry-After)"},
)
async def pairing_state(request: Request) -> Response:
    pairing = services_of(request).devices.pairing
    try:
        answer = await pairing.poll(request.path_params["request_id"], request.headers.get(SIGNATURE_HEADER))
    except Throttled as exc:
        raise _throttled(exc) from exc
    except BadSignature as exc:
        raise ApiError(401, exc.detail) from exc
    return ModelResponse(PairState(state=answer.state, expires_at=answer.expires_at, detail=answer.detail,
                                   token=answer.token, user=answer.user))


@api.endpoint(
    "GET", "/devices", summary="The caller's paired and revoked devices", tag=TAG, auth=Auth.USER,
    responses={200: DeviceList},
)
async def list_devices(request: Request, user: User) -> Response:
    devices = await services_of(request).devices.paired.of_user(user.id)
    return ModelResponse(DeviceList(devices=[
        DeviceOut(id=d.id, device_id=d.device_id, name=d.name, version=d.version, state=device_state(d),
                  paired_at=d.paired_at, last_seen_at=d.last_seen_at, last_address=d.last_address,
                  revoked_at=d.revoked_at)
        for d in devices
    ]))


@api.endpoint(
    "DELETE", "/devices/{device_id:int}", summary="Revoke one of the caller's devices (its token stops working)",
    tag=TAG, auth=Auth.USER, responses={204: "revoked", 404: "no such device of the caller's"},
)
async def revoke_device(request: Request, user: User) -> Response:
    services = services_of(request)
    token_id = await services.devices.paired.revoke(request.path_params["device_id"], user.id)
    if token_id is not None:
        services.live.sockets.withdraw("device revoked", token_id=token_id)
    return Response(status_code=204)
