"""OpenAPI 3.0 document built from the endpoint declarations, and an offline docs page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from appliance import __version__
from appliance.api.endpoint import Api, Auth
from appliance.meeting_urls import Platform

PATH_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
# Path parameters with a fixed set of values (anything else is a 422).
PATH_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "platform": {"type": "string", "enum": [p.value for p in Platform]},
}
# Each operation's security requirements: alternatives, each naming a scheme and its (no) scopes.
SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    Auth.USER: [{"ApiKey": []}],
    Auth.ADMIN: [{"AdminApiKey": []}],
    Auth.BOT: [{"BotToken": []}],
    Auth.BOT_TAIL: [{"BotToken": []}],
    Auth.OPENAI_USER: [{"ApiKey": []}, {"ApiKeyBearer": []}],
    Auth.PUBLIC: [],
}


def to_openapi_30(node: Any) -> Any:
    """Pydantic writes JSON Schema 2020-12 (`anyOf: [X, {type: null}]`); OpenAPI 3.0, which the
    bundled Swagger UI renders, spells that `X` plus `nullable: true`."""
    if isinstance(node, list):
        return [to_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_openapi_30(value) for key, value in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del node["anyOf"]
        node.update(rest[0] if len(rest) == 1 and "$ref" not in rest[0] else {"anyOf": rest})
        node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        # 2020-12's `exclusiveMinimum: 0` is 3.0's `minimum: 0, exclusiveMinimum: true`.
        if isinstance(node.get(exclusive), (int, float)) and not isinstance(node[exclusive], bool):
            node[bound], node[exclusive] = node[exclusive], True
    return node


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = to_openapi_30(definition)
    components[model.__name__] = to_openapi_30(schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(
    path: str, query: type[BaseModel] | None, components: dict[str, Any]
) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True,
         "schema": PATH_PARAM_SCHEMAS.get(name, {"type": "integer" if kind == "int" else "string"})}
        for name, kind in PATH_PARAM.findall(path)
    ]
    if query is not None:
        schema = query.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            components[def_name] = to_openapi_30(definition)
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in schema.get("required", []),
                 "schema": to_openapi_30(prop)}
            )
    return params


def build_openapi(api: Api) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for spec in api.specs:
        path = PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", spec.path)
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [spec.tag],
            "operationId": spec.handler.__name__ if spec.handler else spec.summary,
            "parameters": _parameters(spec.path, spec.query, components),
            "security": SECURITY[spec.auth],
            "responses": {},
        }
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(spec.body, components)}},
            }
        for status, answer in spec.responses.items():
            if isinstance(answer, str):
                operation["responses"][str(status)] = {"description": answer}
            else:
                operation["responses"][str(status)] = {
                    "description": answer.__doc__.strip().splitlines()[0] if answer.__doc__ else answer.__name__,
                    "content": {"application/json": {"schema": _schema_ref(answer, components)}},
                }
        if spec.auth != Auth.PUBLIC:
            operation["responses"].setdefault("401", {"description": "missing or invalid key"})
        if spec.body is not None:
            operation["responses"].setdefault("413", {"description": "body over the size limit (1 MiB)"})
            operation["responses"].setdefault("422", {"description": "invalid body: the detail names the field"})
        if spec.query is not None or "{platform}" in spec.path:  # an unknown platform is a 422 too
            operation["responses"].setdefault("422", {"description": "invalid parameter: the detail names it"})
        paths.setdefault(path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Vomeet appliance API",
            "version": __version__,
            "description": "Vexa-compatible meeting-bot and transcription API of the Vomeet appliance.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "AdminApiKey": {"type": "apiKey", "in": "header", "name": "X-Admin-API-Key"},
                "BotToken": {"type": "http", "scheme": "bearer"},
                "ApiKeyBearer": {
                    "type": "http", "scheme": "bearer", "description": "the user's API key, as OpenAI's clients send it"
                },
            },
        },
    }


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vomeet API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-init.js"></script></body></html>
"""
DOCS_INIT = 'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});\n'


def docs_routes(api: Api) -> list[BaseRoute]:
    """/openapi.json and /docs, with Swagger UI served from the installed package (no CDN)."""
    document = build_openapi(api)

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(document)

    async def docs_page(_request: Request) -> Response:
        return HTMLResponse(DOCS_PAGE)

    async def docs_init(_request: Request) -> Response:
        return Response(DOCS_INIT, media_type="application/javascript")

    static = Path(swagger_ui_bundle.swagger_ui_path)
    return [
        Route("/openapi.json", openapi_json),
        Route("/docs", docs_page),
        Route("/docs/swagger-init.js", docs_init),
        Mount("/docs/static", app=StaticFiles(directory=static), name="docs-static"),
    ]
