"""Delivers one outbound text the way Twilio reports it: status callbacks queued → sent →
delivered (or → undelivered / failed with an ErrorCode), each signed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from simulator.sim_timeline import Timeline
from simulator.twilio_records import Journal, MessageRecord, WebhookExchange
from simulator.twilio_resources import API_VERSION, mask_phone
from simulator.webhook_client import WebhookResponse

log = logging.getLogger(__name__)

Send = Callable[[str, str, Sequence[tuple[str, str]]], WebhookResponse]

_PATHS = {
    "delivered": ("queued", "sent", "delivered"),
    "undelivered": ("queued", "sent", "undelivered"),
    "failed": ("queued", "failed"),
}
_WITH_ERROR = frozenset({"undelivered", "failed"})
_WITH_DLR_DATE = frozenset({"delivered", "undelivered"})


class SmsPlayer:
    def __init__(
        self,
        message: MessageRecord,
        *,
        account_sid: str,
        error_code: int,
        journal: Journal,
        send: Send,
        timeline: Timeline,
        on_delivered: Callable[[Timeline], None] | None = None,
    ) -> None:
        self._message = message  # the journal's own record: mutate only inside journal.change()
        self._account_sid = account_sid
        self._error_code = error_code
        self._journal = journal
        self._send = send
        self._timeline = timeline
        self._on_delivered = on_delivered  # the person reading it (a reply), on the same thread

    def run(self) -> None:
        """Worker-thread entry point: never raises."""
        try:
            self._deliver()
        except Exception as exc:  # one broken message must not take the emulator down
            log.exception("message %s: emulator error", self._message.sid)
            with self._journal.change():
                self._message.errors.append(f"emulator error: {type(exc).__name__}: {exc}")
        finally:
            with self._journal.change():
                self._message.finished = True
            self._journal.end_work()

    def _deliver(self) -> None:
        for index, status in enumerate(_PATHS[self._message.outcome]):
            if index and not self._timeline.advance(1.0 + index):
                with self._journal.change():
                    self._message.errors.append("emulator stopped during delivery")
                return
            with self._journal.change():
                self._message.status = status
                if status in _WITH_ERROR:
                    self._message.error_code = self._error_code
            self._callback(status)
        log.info(
            "message %s to %s: %s", self._message.sid, mask_phone(self._message.to), self._message.status
        )
        if self._message.status == "delivered" and self._on_delivered is not None:
            self._on_delivered(self._timeline)

    def _callback(self, status: str) -> None:
        message = self._message
        if not message.status_callback:
            return
        params = [
            ("AccountSid", self._account_sid),
            ("ApiVersion", API_VERSION),
            ("From", message.from_ or ""),
            ("MessageSid", message.sid),
            ("MessageStatus", status),
            ("SmsSid", message.sid),
            ("SmsStatus", status),
            ("To", message.to),
        ]
        if message.messaging_service_sid:
            params.append(("MessagingServiceSid", message.messaging_service_sid))
        if status in _WITH_ERROR:
            params.append(("ErrorCode", str(self._error_code)))
        if status in _WITH_DLR_DATE:
            params.append(("RawDlrDoneDate", self._timeline.now().strftime("%y%m%d%H%M")))
        response = self._send("POST", message.status_callback, params)
        with self._journal.change():
            message.webhooks.append(
                WebhookExchange(
                    purpose="sms-status",
                    method="POST",
                    url=message.status_callback,
                    params=dict(params),
                    status=response.status,
                    error=response.error,
                )
            )
        if not response.ok:
            log.warning(
                "message %s: status webhook answered %s", message.sid, response.status or response.error
            )
