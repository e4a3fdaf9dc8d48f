"""Building and starting the roles (gateway, ticks, API) from settings. Imports everything; owns nothing."""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from anbu.ticks import Tick, TickRunner
from core.clock import Clock
from core.db import make_engine
from core.health import Health, database_probe
from core.heap import freeze_startup_objects
from core.migrate import upgrade
from core.settings import Settings

if TYPE_CHECKING:
    from anbu.health_server import HealthServer
    from gateway.auth.authority import GatewayIdentity

log = logging.getLogger("anbu")

EMBEDDED_GATEWAY_USERNAME = "anbu-gateway"


def open_database(settings: Settings, *, migrate: bool = True) -> Engine:
    """The role's engine; with ``migrate`` (roles starting), pending migrations first, behind the
    database's migration lock (core/migrate.py), unless ``ANBU_MIGRATE_ON_START=false``."""
    url = settings.effective_database_url
    if migrate and settings.migrate_on_start:
        upgrade(url)
    return make_engine(url)


@dataclass
class Running:
    """Everything started in this process, stopped in reverse order."""

    stoppers: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)

    def add(self, name: str, stop: Callable[[], Any]) -> None:
        self.stoppers.append((name, stop))

    def stop(self) -> None:
        for name, stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:
                log.exception("error while stopping %s", name)
        self.stoppers.clear()


def start_broker(settings: Settings, running: Running, engine: Engine) -> GatewayIdentity | None:
    """The embedded broker (when no ANBU_MQTT_URL), enforcing device identities from the database.

    Returns the gateway's identity on it (a password made for this process), or None for an
    external broker, where the gateway uses ANBU_MQTT_URL's credentials.
    """
    if not settings.uses_embedded_broker:
        return None
    from gateway.auth.authority import Authority, GatewayIdentity
    from gateway.auth.directory import CredentialDirectory
    from gateway.broker import EmbeddedBroker

    directory = CredentialDirectory(engine, settings)
    directory.start()
    running.add("MQTT identities", directory.stop)
    gateway = GatewayIdentity(EMBEDDED_GATEWAY_USERNAME, secrets.token_urlsafe(24), settings.mqtt_client_id)
    broker = EmbeddedBroker(
        port=settings.mqtt_embedded_port,
        session_expiry_s=settings.mqtt_session_expiry_s,
        authority=Authority(settings, directory, gateway),
    )
    broker.start()
    running.add("embedded broker", broker.stop)
    directory.on_invalidated = broker.close_sessions_of
    log.info(
        "embedded MQTT broker on 127.0.0.1:%d (device authentication %s)",
        settings.mqtt_embedded_port,
        "required" if settings.mqtt_auth_required else "off",
    )
    return gateway


def start_gateway(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    running: Running,
    identity: GatewayIdentity | None = None,
) -> Any:
    """*identity*: the gateway's credentials on the embedded broker (from :func:`start_broker`)."""
    from gateway.service import Gateway

    credentials = (identity.username, identity.password) if identity is not None else None
    gateway = Gateway(settings, engine, clock, credentials=credentials)
    gateway.start()
    running.add("gateway", gateway.stop)
    return gateway


# The routine tick asks "which refits are due?" (a few queries) and refits within a budget.
ROUTINE_TICK_S = 60.0
# Readings rolled up into hourly summaries (anomaly/rollup.py): hours close hourly; a late
# reading moves its household back within a tick.
ROLLUP_TICK_S = 300.0
# Unusual-pattern findings are about last night and yesterday: hourly is soon enough.
PATTERNS_TICK_S = 3600.0
# Retention (notifier/retention.py): windows are days long, but a district's readings arrive at
# ~100 a second, so the deletions run often in small bounded runs rather than hourly in big ones.
RETENTION_TICK_S = 300.0


def tick_list(settings: Settings, engine: Engine, clock: Clock) -> list[Tick]:
    """Every periodic job of the worker role: one entry each, all run the same way (anbu/ticks.py)."""
    from anomaly import patterns, rollup, sweeper, training
    from gateway import connectivity, incidents
    from notifier import (
        checkins,
        crisis,
        escalation,
        followup,
        links,
        outbox,
        retention,
        stored_replies,
        webhook_spool,
    )
    from notifier.transports.factory import make_transport

    crisis.configure(settings)  # the line staff texts and calls name
    links.configure(settings)  # the dashboard links our texts carry
    transport = make_transport(settings)
    evaluated: dict[int, tuple[date, date]] = {}
    return [
        Tick("sweeper", settings.sweep_interval_s, lambda: sweeper.tick(engine, clock, settings)),
        Tick("escalation", settings.escalation_interval_s, lambda: escalation.tick(engine, clock, settings)),
        # Reminders and "all clear" after the ladder, and weekly check-in calls: as often as it.
        Tick("followup", settings.escalation_interval_s, lambda: followup.tick(engine, clock, settings)),
        Tick("checkins", settings.escalation_interval_s, lambda: checkins.tick(engine, clock, settings)),
        # Replies on calls the API stored (or spooled) but could not act on: retried until done.
        Tick("replies", settings.escalation_interval_s, lambda: stored_replies.tick(engine, clock, settings)),
        # Texts, calls to our number, family key presses and status callbacks that a locked
        # database could not take in time (notifier/webhook_spool.py).
        Tick("webhooks", settings.escalation_interval_s, lambda: webhook_spool.tick(engine, clock, settings)),
        Tick("outbox", settings.outbox_interval_s, lambda: outbox.tick(engine, clock, settings, transport)),
        Tick(
            "connectivity",
            settings.connectivity_interval_s,
            lambda: connectivity.tick(engine, clock, settings),
        ),
        # Deaf, flapping or vanished gateways and lost broker sessions, from gateway_status rows.
        Tick(
            "gateway_incidents",
            settings.connectivity_interval_s,
            lambda: incidents.tick(engine, clock, settings),
        ),
        # Routines refit once per local day; the tick only asks "is a refit due?".
        Tick("routine", ROUTINE_TICK_S, lambda: training.tick(engine, clock, settings)),
        # The refit and the findings read hourly summaries of readings, not raw rows (issue 15.3).
        Tick("rollup", ROLLUP_TICK_S, lambda: rollup.tick(engine, clock, settings)),
        # ``evaluated`` only saves work between ticks; findings are kept unique by the database.
        Tick("patterns", PATTERNS_TICK_S, lambda: patterns.tick(engine, clock, settings, done=evaluated)),
        Tick("retention", RETENTION_TICK_S, lambda: retention.tick(engine, clock, settings)),
    ]


def start_ticks(
    settings: Settings, engine: Engine, clock: Clock, running: Running, *, start: bool = True
) -> TickRunner:
    """APScheduler only ticks: every timer is a column, so no job is durable (principle 2).

    When each tick runs is kept on the monotonic clock (anbu/ticks.py): wall-clock steps either
    way neither stop nor bunch them. ``start=False`` leaves starting to the caller: a process that
    also serves the webhooks starts its ticks once the API answers (``serve_api(on_serving=…)``),
    so no call is placed whose webhooks nobody would answer."""
    runner = TickRunner(tick_list(settings, engine, clock), clock)
    freeze_startup_objects()  # the refits' full collections walked the startup heap (core/heap.py)
    if start:
        runner.start()
    running.add("ticks", runner.stop)
    log.info("ticks running: transport=%s", settings.effective_transport)
    return runner


# /healthz and /readyz of a gateway or worker running alone (no API port to answer them on).
GATEWAY_HEALTH_PORT = 8001
WORKER_HEALTH_PORT = 8002


def role_health(role: str, engine: Engine, *, gateway: Any = None, ticks: TickRunner | None = None) -> Health:
    """The probes of a role: the database always; the gateway's thread and broker connection and
    the ticks' threads and lag where they run in this process."""
    from gateway import health as gateway_health

    health = Health(role, ready={"database": database_probe(engine)})
    if gateway is not None:
        health.live["gateway"] = gateway.alive
        health.ready["broker"] = lambda: gateway_health.readiness(gateway.metrics())
    if ticks is not None:
        health.live["ticks"] = ticks.alive
        health.ready["ticks"] = ticks.readiness
    return health


def start_health_server(
    settings: Settings, health: Health, running: Running, *, default_port: int
) -> HealthServer | None:
    from anbu.health_server import HealthServer

    port = settings.health_port if settings.health_port is not None else default_port
    if port == 0:
        return None
    server = HealthServer(health, settings.health_host, port)
    server.start()
    running.add("health server", server.stop)
    return server


def api_server_config(settings: Settings, app: Any) -> Any:
    """uvicorn's configuration for the API (a ``uvicorn.Config``)."""
    import uvicorn

    proxies = settings.trusted_proxy_list
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        # uvicorn's own handlers would print its lines in its format, unmasked: ours (anbu/logs.py) do.
        log_config=None,
        # uvicorn believes X-Forwarded-For from loopback unless told otherwise: anyone on the host
        # (or a proxy passing the header through) could then pick their address for the login
        # limiter and the audit log. Only the proxies the operator names are believed.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )


def serve_api(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    *,
    stop_event: threading.Event | None = None,
    gateway: Any = None,
    ticks: TickRunner | None = None,
    role: str = "api",
    on_serving: Callable[[], None] | None = None,
) -> None:
    """Run uvicorn in the calling thread until interrupted (or ``stop_event`` is set).

    With ``gateway`` (one running in this process), ``/metrics`` includes its live figures; with
    ``gateway`` and ``ticks``, ``/healthz`` and ``/readyz`` check them too. ``on_serving`` runs
    once the API listens and its start-up (the reply classifier's training) is done.
    """
    import uvicorn

    from api.app import create_app

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if on_serving is not None and self.started and not self.should_exit:
                on_serving()

    app = create_app(
        settings,
        engine,
        clock,
        gateway_metrics=gateway.metrics if gateway is not None else None,
        health=role_health(role, engine, gateway=gateway, ticks=ticks),
    )
    server = Server(api_server_config(settings, app))
    if stop_event is not None:

        def watch() -> None:
            stop_event.wait()
            server.should_exit = True

        threading.Thread(target=watch, daemon=True, name="api-stop").start()
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the signal that stopped it; make SIGTERM end like Ctrl-C so the
        # caller's cleanup (gateway, broker, scheduler) runs and the exit status is 0.
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("stopping")


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
