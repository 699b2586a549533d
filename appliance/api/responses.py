"""Responses rendered from pydantic models (JSON mode, so datetimes become ISO 8601 strings)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.responses import Response


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(self, content: BaseModel, status_code: int = 200, **kwargs: Any) -> None:
        super().__init__(content.model_dump_json(), status_code, **kwargs)
