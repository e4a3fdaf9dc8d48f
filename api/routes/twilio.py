"""Twilio webhooks: signature first, then the notifier handler within a bounded wait, spooled to
disk when the database cannot take it (:mod:`notifier.webhook_spool`; the resident's reply on a
call: stored first, then acted on, :mod:`notifier.stored_replies`).

No bearer auth here (Twilio cannot log in); the ``X-Twilio-Signature`` check is the gate,
and nothing touches the database before it passes. The handlers live in
``notifier.calls`` / ``notifier.sms``.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import ClockDep, EngineDep, SettingsDep
from api.twilio_signature import SIGNATURE_HEADER, FormParams, is_valid, signed_url
from core.enums import Language
from notifier import stored_replies, webhook_spool
from notifier import webhook_urls as paths
from notifier.calls import crisis_line
from notifier.webhook_spool import Hook

log = logging.getLogger(__name__)
XML = "application/xml"
MAX_BODY_BYTES = 64 * 1024  # Twilio's callbacks are a few hundred bytes
router = APIRouter(tags=["twilio"], include_in_schema=False, max_body_size=MAX_BODY_BYTES)


async def _read_body(request: Request) -> bytes:
    """The request body, refusing (413) anything larger than a Twilio callback could be."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(status_code=status.HTTP_413_CONTENT_TOO_LARGE, detail="request too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(status_code=status.HTTP_413_CONTENT_TOO_LARGE, detail="request too large")
    return bytes(body)


def _form_params(request: Request, body: bytes) -> FormParams:
    """Twilio posts ``application/x-www-form-urlencoded``; any other body carries no parameters."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return FormParams([])
    try:
        return FormParams(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise HTTPException(
            status_code=status.HTTP_400_BAD_REQUEST, detail="form body is not UTF-8"
        ) from None


async def _verified_params(request: Request, settings: SettingsDep) -> FormParams:
    """The form parameters of a genuinely Twilio-signed request, or 403.

    Without a Twilio auth token (the console transport) nothing can be genuine: every request is
    refused before its body is read. There is no fallback token to check against.
    """
    auth_token = settings.webhook_auth_token
    if auth_token is None:
        log.warning("twilio webhook refused: no Twilio auth token is configured path=%s", request.url.path)
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="phone webhooks are off (no Twilio auth token)"
        )
    params = _form_params(request, await _read_body(request))
    url = signed_url(settings.effective_public_base_url, request.url.path, request.url.query)
    if not is_valid(
        auth_token=auth_token,
        url=url,
        params=params,
        signature=request.headers.get(SIGNATURE_HEADER),
    ):
        log.warning("twilio webhook refused: bad or missing signature path=%s", request.url.path)
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="invalid Twilio signature")
    return params


def _query(request: Request, name: str) -> str:
    value = request.query_params.get(name, "").strip()
    if not value:
        raise HTTPException(
            status_code=status.HTTP_400_BAD_REQUEST, detail=f"missing query parameter {name!r}"
        )
    return value


def _query_int(request: Request, name: str) -> int:
    value = _query(request, name)
    if not value.isdigit():
        raise HTTPException(
            status_code=status.HTTP_400_BAD_REQUEST, detail=f"query parameter {name!r} must be an id"
        )
    return int(value)


def _gather_no(request: Request) -> int | None:
    """The question attempt a ``<Gather>`` callback answers (``n``); None for an action URL
    handed out before ``n`` existed."""
    value = request.query_params.get("n", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1 or len(value) > 3:
        raise HTTPException(
            status_code=status.HTTP_400_BAD_REQUEST, detail="query parameter 'n' must be a small number"
        )
    return int(value)


async def _handle_or_spool(engine: Engine, settings: SettingsDep, req: webhook_spool.Request) -> str:
    """Handled within a bounded wait, or spooled to disk and answered safely: never lost and
    never a 500 for a locked database (notifier.webhook_spool)."""
    return await run_in_threadpool(
        lambda: webhook_spool.receive(
            engine,
            req,
            base_url=settings.effective_public_base_url,
            directory=webhook_spool.spool_dir(settings),
        )
    )


@router.post(paths.VOICE_ANSWER)
async def voice_answer(
    request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep
) -> Response:
    params = await _verified_params(request, settings)
    code = _query(request, "code")
    req = webhook_spool.Request.of(Hook.VOICE_ANSWER, params.single(), clock.now(), code=code)
    return Response(await _handle_or_spool(engine, settings, req), media_type=XML)


@router.post(paths.VOICE_GATHER)
async def voice_gather(
    request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep
) -> Response:
    params = await _verified_params(request, settings)
    code = _query(request, "code")
    gather_no = _gather_no(request)

    # Not one transaction: the reply is stored first and acted on second, and Twilio gets TwiML
    # even when the database cannot take either (notifier.stored_replies).
    twiml = await run_in_threadpool(
        lambda: stored_replies.receive(
            engine,
            code=code,
            gather_no=gather_no,
            params=params.single(),
            base_url=settings.effective_public_base_url,
            now=clock.now(),
            spool=stored_replies.spool_dir(settings),
        )
    )
    return Response(twiml, media_type=XML)


@router.post(paths.VOICE_STATUS, status_code=status.HTTP_204_NO_CONTENT)
async def voice_status(
    request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep
) -> Response:
    params = await _verified_params(request, settings)
    code = _query(request, "code")
    req = webhook_spool.Request.of(Hook.CALL_STATUS, params.single(), clock.now(), code=code)
    await _handle_or_spool(engine, settings, req)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(paths.SMS_STATUS, status_code=status.HTTP_204_NO_CONTENT)
async def sms_status(request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep) -> Response:
    params = await _verified_params(request, settings)
    notification_id = _query_int(request, "id")
    req = webhook_spool.Request.of(Hook.SMS_STATUS, params.single(), clock.now(), id=notification_id)
    await _handle_or_spool(engine, settings, req)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(paths.SMS_INBOUND)
async def sms_inbound(
    request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep
) -> Response:
    params = await _verified_params(request, settings)
    req = webhook_spool.Request.of(Hook.SMS_INBOUND, params.single(), clock.now())
    return Response(await _handle_or_spool(engine, settings, req), media_type=XML)


@router.post(paths.VOICE_CONTACT_GATHER)
async def voice_contact_gather(
    request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep
) -> Response:
    params = await _verified_params(request, settings)
    code = _query(request, "code")
    gather_no = _gather_no(request)
    req = webhook_spool.Request.of(Hook.CONTACT_GATHER, params.single(), clock.now(), code=code, n=gather_no)
    return Response(await _handle_or_spool(engine, settings, req), media_type=XML)


@router.post(paths.VOICE_INBOUND)
async def voice_inbound(
    request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep
) -> Response:
    params = await _verified_params(request, settings)
    req = webhook_spool.Request.of(Hook.VOICE_INBOUND, params.single(), clock.now())
    return Response(await _handle_or_spool(engine, settings, req), media_type=XML)


@router.post(paths.VOICE_CONNECT)
async def voice_connect(
    request: Request, settings: SettingsDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """After a resident at risk was put through to the suicide-prevention line (or pressed 1 to
    be): what they hear next needs no database; the record of it waits briefly or is spooled, and
    a failure to write it never leaves them in silence."""
    params = await _verified_params(request, settings)
    code = _query(request, "code")
    attempt = _gather_no(request) or 1
    language = Language.EN if request.query_params.get("lang") == Language.EN.value else Language.KO
    single = params.single()
    twiml = crisis_line.answer(
        single, code=code, base_url=settings.effective_public_base_url, attempt=attempt, language=language
    )
    # The record waits briefly, then is spooled (notifier.webhook_spool): on PostgreSQL a locked
    # call row once held the <Dial> back past Twilio's 15 s.
    req = webhook_spool.Request.of(Hook.VOICE_CONNECT, single, clock.now(), code=code, n=attempt)
    try:
        await _handle_or_spool(engine, settings, req)
    except Exception:  # the resident still hears the line; the record is only for staff
        log.exception("connect callback: could not record it")
    return Response(twiml, media_type=XML)
