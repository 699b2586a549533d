"""Full-text search over the caller's own transcripts (issue 15, item 5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.responses import ModelResponse
from appliance.api.schemas import SearchHit, SearchQuery, SearchResults
from appliance.db.models import User
from appliance.transcripts.search import search

api = Api()
TAG = "transcripts"


@api.endpoint(
    "GET", "/search", summary="Find words in the user's transcripts, newest meeting first",
    tag=TAG, auth=Auth.USER, query=SearchQuery,
    responses={200: SearchResults, 422: "an empty query, or one FTS5 cannot read"},
)
async def search_transcripts(request: Request, user: User, query: SearchQuery) -> Response:
    async with services_of(request).db.session() as session:
        hits = await search(session, user.id, query.q, query.limit, query.offset)
    return ModelResponse(SearchResults(results=[SearchHit.model_validate(hit) for hit in hits]))
