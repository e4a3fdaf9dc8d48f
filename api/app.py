"""The application factory: everything the app needs is passed in and kept on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import error_response, http_exception_handler
from api.login_limiter import AccountThrottle, LoginLimiter
from api.routes import (
    audit_log,
    auth,
    case_closing,
    cases,
    contacts,
    dashboard,
    device_identities,
    erasure,
    household_admin,
    households,
    incidents,
    live,
    management,
    metrics,
    mqtt_hooks,
    overview,
    people,
    reports,
    status_links,
    status_page,
    teams,
    twilio,
)
from api.routes import health as health_routes
from api.security_headers import SecurityHeadersMiddleware
from core.clock import Clock
from core.health import Health, database_probe
from core.settings import Settings
from notifier import classifier, crisis, links

API_PREFIX = "/api/v1"
# Every request body is capped before it is read (413), authenticated or not; routes that take
# more (the CSV import) say so with their own ``max_body_size``. JSON bodies here are a few KiB.
API_MAX_BODY_BYTES = 256 * 1024
PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR / "templates"


def operation_id(route: APIRoute) -> str:
    """Stable OpenAPI ids (``cases-acknowledge``), so generated clients keep their names."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # The reply classifier trains on first use (seconds of CPU, more on a busy host). Twilio waits
    # 15 s for a gather webhook and does not retry it: train before serving, never on a reply.
    await to_thread.run_sync(classifier.warm_up)
    yield


def create_app(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    *,
    gateway_metrics: Callable[[], dict[str, Any]] | None = None,
    health: Health | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Anbu",
        summary="Welfare check-ins for older people who live alone",
        version="0.1.0",
        # The API's map is for developers; production serves it only when asked (ANBU_OPENAPI).
        openapi_url=f"{API_PREFIX}/openapi.json" if settings.serves_openapi else None,
        docs_url=None,  # the Swagger UI loads from a CDN, which we neither allow (CSP) nor reach
        redoc_url=None,
        generate_unique_id_function=operation_id,
        max_body_size=API_MAX_BODY_BYTES,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.state.gateway_metrics = gateway_metrics  # set when a gateway runs in this process (/metrics)
    # /healthz and /readyz: the role's probes; the API alone depends on the database only.
    app.state.health = health or Health("api", ready={"database": database_probe(engine)})
    app.state.health.facts.update(settings.phone_status())
    app.state.login_limiter = LoginLimiter()
    app.state.account_throttle = AccountThrottle()
    app.state.templates = Jinja2Templates(directory=TEMPLATES_DIR)
    crisis.configure(settings)  # the line a resident at risk hears and is connected to
    links.configure(settings)  # the dashboard links our texts carry

    # Every /api/v1 error has a code (api/errors.py); 401 and 403 can come from any route.
    v1 = APIRouter(
        prefix=API_PREFIX,
        responses={
            401: error_response("not signed in, or the token expired"),
            403: error_response("your role may not do this"),
        },
    )
    v1.include_router(auth.router)
    v1.include_router(teams.router)
    v1.include_router(households.router)
    v1.include_router(household_admin.router)
    v1.include_router(erasure.router)
    v1.include_router(people.router)
    v1.include_router(cases.router)
    v1.include_router(case_closing.router)
    v1.include_router(contacts.router)
    v1.include_router(status_links.router)
    v1.include_router(management.router)
    v1.include_router(reports.router)
    v1.include_router(audit_log.router)
    v1.include_router(incidents.router)
    v1.include_router(overview.router)
    v1.include_router(live.router)
    v1.include_router(mqtt_hooks.router)
    v1.include_router(device_identities.router)
    app.include_router(v1)
    app.include_router(twilio.router)  # full paths from notifier.webhook_urls
    app.include_router(health_routes.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    app.include_router(status_page.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.serves_hsts)
    # Every error body carries a stable code for clients to translate (api/errors.py).
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    return app
