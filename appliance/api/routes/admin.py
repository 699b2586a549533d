"""User and token administration with the admin key (contract section 4)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from appliance import accounts
from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.errors import ApiError
from appliance.api.responses import ModelResponse
from appliance.api.schemas import Paging, TokenCreated, UserCreate, UserDetail, UserOut, UserPatch
from appliance.api.views import user_detail_view, user_view
from appliance.db.models import User

api = Api()
TAG = "admin"


@api.endpoint(
    "POST", "/admin/users", summary="Create a user, or return the one with that e-mail", tag=TAG,
    auth=Auth.ADMIN, body=UserCreate,
    responses={201: UserOut, 200: "the user already existed", 422: "invalid fields"},
)
async def create_user(request: Request, admin: bool, body: UserCreate) -> Response:
    services = services_of(request)
    async with services.db.session() as session:
        user, created = await accounts.find_or_create_user(
            session, body.email, services.settings.default_max_concurrent_bots,
            name=body.name, image_url=body.image_url,
            max_concurrent_bots=body.max_concurrent_bots, data=body.data,
        )
    return ModelResponse(user_view(user), 201 if created else 200)


@api.endpoint(
    "GET", "/admin/users", summary="List users", tag=TAG, auth=Auth.ADMIN, query=Paging,
    responses={200: "list of users"},
)
async def list_users(request: Request, admin: bool, query: Paging) -> Response:
    async with services_of(request).db.session() as session:
        users = (
            await session.scalars(select(User).order_by(User.id).offset(query.skip).limit(query.limit))
        ).all()
    return JSONResponse([user_view(u).model_dump(mode="json") for u in users])


async def _user_detail(request: Request, **where: object) -> Response:
    async with services_of(request).db.session() as session:
        user = await accounts.user_with_tokens(session, **where)
    if user is None:
        shown = ", ".join(f"{k}={v}" for k, v in where.items())
        raise ApiError(404, f"No user with {shown}.")
    return ModelResponse(user_detail_view(user))


@api.endpoint(
    "GET", "/admin/users/{user_id:int}", summary="A user with their tokens", tag=TAG,
    auth=Auth.ADMIN, responses={200: UserDetail, 404: "no such user"},
)
async def get_user(request: Request, admin: bool) -> Response:
    return await _user_detail(request, id=request.path_params["user_id"])


@api.endpoint(
    "GET", "/admin/users/email/{email}", summary="A user by e-mail, with their tokens", tag=TAG,
    auth=Auth.ADMIN, responses={200: UserDetail, 404: "no such user"},
)
async def get_user_by_email(request: Request, admin: bool) -> Response:
    return await _user_detail(request, email=request.path_params["email"].strip().lower())


@api.endpoint(
    "PATCH", "/admin/users/{user_id:int}", summary="Change a user's name, image, limit or data",
    tag=TAG, auth=Auth.ADMIN, body=UserPatch, responses={200: UserOut, 404: "no such user"},
)
async def patch_user(request: Request, admin: bool, body: UserPatch) -> Response:
    async with services_of(request).db.session() as session:
        user = await session.get(User, request.path_params["user_id"])
        if user is None:
            raise ApiError(404, f"No user with id={request.path_params['user_id']}.")
        for field, value in body.model_dump(exclude_unset=True).items():
            if value is None and field == "max_concurrent_bots":
                raise ApiError(422, "body.max_concurrent_bots: use 0 for unlimited, not null")
            setattr(user, field, value if field != "data" else value or {})
        await session.commit()
    return ModelResponse(user_view(user))


@api.endpoint(
    "POST", "/admin/users/{user_id:int}/tokens", summary="Issue an API token (shown once)", tag=TAG,
    auth=Auth.ADMIN, responses={201: TokenCreated, 404: "no such user"},
)
async def create_token(request: Request, admin: bool) -> Response:
    user_id = request.path_params["user_id"]
    async with services_of(request).db.session() as session:
        if await session.get(User, user_id) is None:
            raise ApiError(404, f"No user with id={user_id}.")
        issued = await accounts.issue_token(session, user_id)
    return ModelResponse(
        TokenCreated(
            id=issued.token.id, token=issued.secret, user_id=user_id,
            created_at=issued.token.created_at,
        ),
        201,
    )


@api.endpoint(
    "DELETE", "/admin/tokens/{token_id:int}", summary="Revoke an API token", tag=TAG,
    auth=Auth.ADMIN, responses={204: "revoked", 404: "no such token"},
)
async def revoke_token(request: Request, admin: bool) -> Response:
    services, token_id = services_of(request), request.path_params["token_id"]
    async with services.db.session() as session:
        if not await accounts.revoke_token(session, token_id):
            raise ApiError(404, f"No token with id={token_id}.")
    # Before the 204: whoever revoked the key can rely on its open sockets being closed.
    services.live.sockets.withdraw("API key revoked", token_id=token_id)
    return Response(status_code=204)
