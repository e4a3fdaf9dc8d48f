"""Settings: environment parsing, derived defaults, and refusal of development secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import (
    DEV_TWILIO_AUTH_TOKEN,
    InsecureSettingsError,
    Settings,
    parse_mqtt_url,
    secret_weakness,
)
from tests.factories import TEST_SECRET_KEY

STRONG = TEST_SECRET_KEY
HTTPS = "https://care.example.org"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ANBU_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]  # no stray .env


def test_defaults_are_embedded_and_serve_out_of_the_box() -> None:
    s = Settings()
    assert s.env == "dev"
    assert s.effective_database_url.endswith("var/anbu.db")
    assert s.uses_embedded_broker
    assert (s.mqtt_endpoint.host, s.mqtt_endpoint.port) == ("127.0.0.1", 11883)
    assert s.effective_transport == "console"
    assert s.effective_public_base_url == "http://127.0.0.1:8000"
    assert s.default_timezone == "Asia/Seoul"


def test_environment_variables_with_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANBU_DATABASE_URL", "postgresql+psycopg://u@db/anbu")
    monkeypatch.setenv("ANBU_MQTT_URL", "mqtts://gw:s%40cret@broker.example:8883")
    monkeypatch.setenv("ANBU_TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("ANBU_TWILIO_AUTH_TOKEN", "tok")
    s = Settings()
    assert s.effective_database_url == "postgresql+psycopg://u@db/anbu"
    ep = s.mqtt_endpoint
    assert (ep.host, ep.port, ep.tls, ep.username, ep.password) == (
        "broker.example",
        8883,
        True,
        "gw",
        "s@cret",
    )
    assert not s.uses_embedded_broker
    assert s.effective_transport == "twilio"


def test_dotenv_file_is_read(tmp_path: object) -> None:
    from pathlib import Path

    Path(".env").write_text("ANBU_HTTP_PORT=9123\n", encoding="utf-8")
    assert Settings().http_port == 9123


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1", ("127.0.0.1", 1883, False)),
        ("mqtt://localhost:1884", ("localhost", 1884, False)),
        ("mqtts://b.example", ("b.example", 8883, True)),
    ],
)
def test_mqtt_urls(url: str, expected: tuple[str, int, bool]) -> None:
    ep = parse_mqtt_url(url)
    assert (ep.host, ep.port, ep.tls) == expected


@pytest.mark.parametrize("url", ["http://broker", "mqtt://", "tcp://x:1883"])
def test_bad_mqtt_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(ValidationError, match="MQTT URL"):
        Settings(mqtt_url=url)


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown timezone"):
        Settings(default_timezone="Mars/Olympus")


def test_production_refuses_default_secret() -> None:
    with pytest.raises(InsecureSettingsError, match="ANBU_SECRET_KEY"):
        Settings(env="prod")


def test_production_refuses_development_twilio_token() -> None:
    with pytest.raises(InsecureSettingsError, match="ANBU_TWILIO_AUTH_TOKEN"):
        Settings(
            env="prod", secret_key=STRONG, public_base_url=HTTPS, twilio_auth_token=DEV_TWILIO_AUTH_TOKEN
        )


def test_production_starts_with_real_secrets() -> None:
    s = Settings(env="prod", secret_key=STRONG, public_base_url=HTTPS)
    assert s.env == "prod"
    assert (s.serves_openapi, s.serves_hsts) == (False, True)


@pytest.mark.parametrize(
    "secret",
    [
        "x" * 16,  # issue 13.7: one repeated letter of 16 characters passed
        "x" * 200,
        "abc" * 40,
        "0123456789" * 10,
        "a-real-random-secret-value",
        "467d4a7662bb053263cffb352bf69c32",  # 128 random bits (token_hex(16)): not 256
    ],
)
@pytest.mark.parametrize("env", ["test", "prod"])
def test_outside_dev_a_weak_secret_is_refused(secret: str, env: str) -> None:
    with pytest.raises(InsecureSettingsError, match="ANBU_SECRET_KEY is too weak"):
        Settings(env=env, secret_key=secret, public_base_url=HTTPS)


def test_random_keys_from_the_suggested_command_pass() -> None:
    import secrets

    for _ in range(200):
        assert secret_weakness(secrets.token_urlsafe(48)) is None
        assert secret_weakness(secrets.token_hex(32)) is None


def test_a_weak_metrics_token_is_refused() -> None:
    with pytest.raises(InsecureSettingsError, match="ANBU_METRICS_TOKEN is too weak"):
        Settings(env="prod", secret_key=STRONG, public_base_url=HTTPS, metrics_token="prometheus")


@pytest.mark.parametrize("url", [None, "http://care.example.org"])
def test_production_needs_an_https_public_address(url: str | None) -> None:
    with pytest.raises(InsecureSettingsError, match="ANBU_PUBLIC_BASE_URL must be the https://"):
        Settings(env="prod", secret_key=STRONG, public_base_url=url)


def test_openapi_is_served_outside_prod_and_in_prod_only_when_asked() -> None:
    assert Settings().serves_openapi is True
    assert Settings(env="prod", secret_key=STRONG, public_base_url=HTTPS, openapi=True).serves_openapi is True


TWILIO = {
    "twilio_account_sid": "AC" + "7" * 32,
    "twilio_auth_token": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "twilio_from_number": "+15005550006",
}


def test_outside_dev_no_twilio_means_refusal_not_a_silent_console() -> None:
    s = Settings(env="prod", secret_key=STRONG, public_base_url=HTTPS)
    [problem] = s.phone_problems()
    assert "ANBU_TWILIO_ACCOUNT_SID" in problem and "ANBU_TRANSPORT=console" in problem
    with pytest.raises(InsecureSettingsError, match="ANBU_TRANSPORT=console"):
        s.refuse_unsafe_phone()


def test_an_explicit_console_or_full_credentials_are_accepted_outside_dev() -> None:
    assert (
        Settings(env="prod", secret_key=STRONG, public_base_url=HTTPS, transport="console").phone_problems()
        == []
    )
    full = Settings(env="prod", secret_key=STRONG, public_base_url=HTTPS, **TWILIO)  # type: ignore[arg-type]
    assert full.phone_problems() == [] and full.effective_transport == "twilio"


def test_dev_without_twilio_runs_on_the_console() -> None:
    assert Settings().phone_problems() == []


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_twilio_transport_without_credentials_is_refused_everywhere(env: str) -> None:
    s = Settings(env=env, secret_key=STRONG, public_base_url=HTTPS, transport="twilio")
    assert s.phone_problems() == [
        "ANBU_TRANSPORT=twilio needs ANBU_TWILIO_ACCOUNT_SID, ANBU_TWILIO_AUTH_TOKEN, ANBU_TWILIO_FROM_NUMBER"
    ]


def test_partly_set_credentials_are_refused_even_in_dev() -> None:
    s = Settings(twilio_account_sid=TWILIO["twilio_account_sid"])
    assert s.phone_problems() == [
        "Twilio credentials are only partly set: ANBU_TWILIO_AUTH_TOKEN, ANBU_TWILIO_FROM_NUMBER missing"
    ]


def test_webhooks_have_no_fallback_token() -> None:
    assert Settings().webhook_auth_token is None
    assert (
        Settings(env="prod", secret_key=STRONG, public_base_url=HTTPS, transport="console").webhook_auth_token
        is None
    )
    assert Settings(twilio_auth_token="tok").webhook_auth_token == "tok"
