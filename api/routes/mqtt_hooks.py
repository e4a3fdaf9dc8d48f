"""HTTP auth hooks for brokers that ask a web service who may connect and what they may do (EMQX).

``POST /api/v1/mqtt/authn`` and ``POST /api/v1/mqtt/authz`` answer EMQX 5's HTTP authenticator and
authorizer (JSON request bodies built from its placeholders; ``{"result": "allow"|"deny"}``), with
the same decisions as the embedded broker (gateway/auth/authority.py): the gateway's identity from
``ANBU_MQTT_URL``, devices from ``mqtt_credential`` (seen within a second of a change), anonymous
clients only with ``ANBU_MQTT_AUTH=off``. The broker proves itself with ``X-Anbu-Hook-Secret``
(``ANBU_MQTT_HOOK_SECRET``); without that setting the hooks do not exist (404). The exact EMQX
configuration is in docs/security.md.
"""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import BaseModel, Field

from api.deps import SettingsDep
from core.settings import Settings
from gateway.auth.authority import Authority, GatewayIdentity, Principal
from gateway.auth.directory import CredentialDirectory

log = logging.getLogger(__name__)
router = APIRouter(prefix="/mqtt", tags=["mqtt-hooks"])

SECRET_HEADER = "X-Anbu-Hook-Secret"
_authority_lock = threading.Lock()


class AuthnIn(BaseModel):
    # EMQX renders a missing username or password as "": they mean "none given".
    username: str = Field("", max_length=512)
    password: str = Field("", max_length=512)
    clientid: str = Field("", max_length=512)


class AuthzIn(BaseModel):
    username: str = Field("", max_length=512)
    clientid: str = Field("", max_length=512)
    topic: str = Field(..., min_length=1, max_length=65535)
    action: Literal["publish", "subscribe"]


class HookResult(BaseModel):
    result: Literal["allow", "deny"]
    is_superuser: bool = False


SecretHeader = Annotated[str | None, Header(alias=SECRET_HEADER)]


def _authority(request: Request, settings: Settings, secret: str | None) -> Authority:
    if not settings.mqtt_hook_secret:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "MQTT hooks are off (ANBU_MQTT_HOOK_SECRET)")
    if secret is None or not hmac.compare_digest(secret.encode(), settings.mqtt_hook_secret.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {SECRET_HEADER}")
    with _authority_lock:
        authority: Authority | None = getattr(request.app.state, "mqtt_authority", None)
        if authority is None:
            directory = CredentialDirectory(request.app.state.engine, settings)
            endpoint = settings.mqtt_endpoint
            gateway = (
                GatewayIdentity(endpoint.username, endpoint.password or "", settings.mqtt_client_id)
                if endpoint.username
                else None
            )
            authority = request.app.state.mqtt_authority = Authority(settings, directory, gateway)
            request.app.state.mqtt_directory = directory
    request.app.state.mqtt_directory.refresh_if_older()
    return authority


def _principal(authority: Authority, username: str, clientid: str) -> Principal | None:
    """Who a hook request speaks of; identities were checked at authn, so the username suffices."""
    if not username:
        return None if authority.required else _anonymous(authority, clientid)
    if authority.is_gateway(username):
        return authority.gateway_principal
    identity = authority.device(username)
    return Principal("device", identity) if identity is not None else None


def _anonymous(authority: Authority, clientid: str) -> Principal | None:
    admission = authority.admit(None, None, clientid)
    return admission.principal


@router.post("/authn", response_model=HookResult)
def authn(body: AuthnIn, request: Request, settings: SettingsDep, secret: SecretHeader = None) -> HookResult:
    """EMQX's HTTP authenticator: may this client connect?"""
    authority = _authority(request, settings, secret)
    admission = authority.admit(body.username or None, body.password or None, body.clientid)
    if admission.principal is None:
        log.debug("MQTT hook refused a connection: %s", admission.reason)
        return HookResult(result="deny")
    return HookResult(result="allow")


@router.post("/authz", response_model=HookResult)
def authz(body: AuthzIn, request: Request, settings: SettingsDep, secret: SecretHeader = None) -> HookResult:
    """EMQX's HTTP authorizer: may this client publish to / subscribe to this topic?"""
    authority = _authority(request, settings, secret)
    principal = _principal(authority, body.username, body.clientid)
    if principal is None:  # unknown, revoked since it connected, or anonymous with auth on
        return HookResult(result="deny")
    if body.action == "publish":
        allowed = authority.may_publish(principal, body.topic)
    else:
        allowed = authority.may_subscribe(principal, body.topic)
    return HookResult(result="allow" if allowed else "deny")
