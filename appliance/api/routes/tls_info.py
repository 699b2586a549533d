"""GET /tls: the certificate the box serves and the one staged next, so a paired client learns
the next pin over its trusted connection before a rotation switches (docs/tls.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.auth import services_of
from appliance.api.endpoint import Api, Auth
from appliance.api.responses import ModelResponse
from appliance.discovery.identity import appliance_id
from appliance.tls import CertificateInfo, TlsStore

api = Api()
TAG = "health"


class TlsCertificate(BaseModel):
    fingerprint: str = Field(description="Lowercase hex SHA-256 of the certificate's DER bytes (64 characters).")
    pem: str = Field(description="The certificate (the leaf) in PEM.")
    not_after: str = Field(description="When it expires (ISO 8601, UTC).")


class TlsCertificates(BaseModel):
    id: str = Field(description="The appliance's stable id (a UUID), the one its mDNS TXT `id` carries: a client "
                    "that reached it by a typed address recognises it as the announced box.")
    current: TlsCertificate | None = Field(description="What the LAN port serves now; null when TLS is off.")
    next: TlsCertificate | None = Field(
        description="A staged certificate that will replace it (`vomeet tls rotate`); a paired client "
        "accepts either pin from now on."
    )


def _shown(info: CertificateInfo | None) -> TlsCertificate | None:
    return None if info is None else TlsCertificate.model_validate(info.as_json())


@api.endpoint(
    "GET", "/tls", summary="The served certificate and the next one, for clients that pin them",
    tag=TAG, auth=Auth.PUBLIC, responses={200: TlsCertificates},
)
async def tls_certificates(request: Request) -> Response:
    settings = services_of(request).settings
    box = appliance_id(settings)
    if not settings.tls_enabled:
        return ModelResponse(TlsCertificates(id=box, current=None, next=None))
    store = TlsStore(settings)
    return ModelResponse(TlsCertificates(id=box, current=_shown(store.ensure()[0]), next=_shown(store.staged())))
