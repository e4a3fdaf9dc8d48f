"""deploy/: the systemd units pass `systemd-analyze verify`, the compose file is well formed and
consistent with Anbu (commands, settings, health ports), the Mosquitto config runs, and the image
holds every package. `docker compose config` runs too where Compose is installed."""

from __future__ import annotations

import getpass
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from anbu.cli import build_parser
from anbu.runtime import GATEWAY_HEALTH_PORT, WORKER_HEALTH_PORT
from core.settings import Settings

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
UNITS = DEPLOY / "systemd"
INSTALLED_ANBU = "/opt/anbu/venv/bin/anbu"
SETTING_NAMES = {f"ANBU_{name.upper()}" for name in Settings.model_fields}
ROLE_HEALTH_PORTS = {"api": 8000, "gateway": GATEWAY_HEALTH_PORT, "worker": WORKER_HEALTH_PORT}


def _anbu_script() -> str:
    script = Path(sys.executable).with_name("anbu")
    assert script.exists(), "the anbu console script of this environment"
    return str(script)


def _is_anbu_command(argv: list[str]) -> bool:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        return False
    return hasattr(args, "handler")


# ------------------------------------------------------------------------------------ systemd


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart programs exist: point them at this environment's anbu.
    for unit in UNITS.iterdir():
        if unit.suffix in {".service", ".timer", ".target"}:
            (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED_ANBU, _anbu_script()))
    units = sorted(str(p) for p in tmp_path.iterdir())
    assert len(units) == 6
    result = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    # Unknown keys or bad values are only warnings: none allowed.
    assert result.stderr.strip() == "", result.stderr


def _unit(name: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
        else:
            key, _, value = line.partition("=")
            sections[current].append((key, value))
    return sections


@pytest.mark.parametrize("role", ["api", "gateway", "worker"])
def test_each_role_unit_runs_its_role_with_least_privilege(role: str) -> None:
    service = dict(_unit(f"anbu-{role}.service")["Service"])
    assert shlex.split(service["ExecStart"]) == [INSTALLED_ANBU, role]
    assert _is_anbu_command([role])
    assert service["User"] == "anbu" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict" and service["CapabilityBoundingSet"] == ""
    assert service["EnvironmentFile"] == "/etc/anbu/anbu.env"
    assert dict(_unit(f"anbu-{role}.service")["Install"])["WantedBy"] == "anbu.target"
    assert f"anbu-{role}.service" in dict(_unit("anbu.target")["Unit"])["Wants"].split()


def test_the_backup_unit_runs_anbu_backup() -> None:
    service = dict(_unit("anbu-backup.service")["Service"])
    inner = shlex.split(shlex.split(service["ExecStart"])[2])  # /bin/sh -c '<this>'
    assert inner[:2] == ["exec", INSTALLED_ANBU]
    assert _is_anbu_command([*inner[2:4], "out.backup"])  # anbu backup --force <file>
    assert dict(_unit("anbu-backup.timer")["Timer"])["Persistent"] == "true"


def _env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_the_example_env_file_names_only_real_settings_and_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    values = _env_file(UNITS / "anbu.env.example")
    assert set(values) <= SETTING_NAMES, set(values) - SETTING_NAMES
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ANBU_SECRET_KEY", secrets.token_urlsafe(48))
    settings = Settings(_env_file=None)
    assert settings.env == "prod" and settings.log_format == "json"
    assert settings.mqtt_endpoint.username == "anbu-gateway"
    # Copied as is, the roles refuse to start and say which Twilio settings to fill in.
    assert "ANBU_TWILIO_ACCOUNT_SID" in " ".join(settings.phone_problems())
    monkeypatch.setenv("ANBU_TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("ANBU_TWILIO_AUTH_TOKEN", "a-real-twilio-token")
    monkeypatch.setenv("ANBU_TWILIO_FROM_NUMBER", "+8215880000")
    assert Settings(_env_file=None).phone_problems() == []


# ------------------------------------------------------------------------------------ compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_compose_config_where_docker_compose_is_installed(tmp_path: Path) -> None:
    probe = (
        subprocess.run(["docker", "compose", "version"], capture_output=True)
        if shutil.which("docker")
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("docker compose is not installed (the structure tests below still run)")
    env = tmp_path / "test.env"
    env.write_text(
        "ANBU_SECRET_KEY=s\nPOSTGRES_PASSWORD=p\nANBU_MQTT_PASSWORD=m\nANBU_PUBLIC_BASE_URL=https://x\n"
    )
    result = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "--env-file", str(env), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_compose_runs_postgres_mosquitto_and_every_role(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "mosquitto", "api", "gateway", "worker"}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    for name, service in services.items():
        image = service.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, name  # pinned
        for dep, rule in service.get("depends_on", {}).items():
            assert dep in services, (name, dep)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)


@pytest.mark.parametrize("role", ["api", "gateway", "worker"])
def test_each_role_service_runs_its_role_and_probes_its_readyz(compose: dict[str, Any], role: str) -> None:
    service = compose["services"][role]
    assert service["command"] == [role] and _is_anbu_command(service["command"])
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{ROLE_HEALTH_PORTS[role]}/readyz" in probe
    environment = service["environment"]
    assert set(environment) <= SETTING_NAMES, set(environment) - SETTING_NAMES
    assert environment["ANBU_ENV"] == "prod"
    assert (
        environment["ANBU_DATABASE_URL"].startswith("postgresql+psycopg://")
        and "@postgres:5432/" in (environment["ANBU_DATABASE_URL"])
    )
    assert "@mosquitto:1883" in environment["ANBU_MQTT_URL"]
    # Secrets come from deploy/.env and are required, never defaulted.
    for key in ("ANBU_SECRET_KEY", "ANBU_DATABASE_URL", "ANBU_MQTT_URL"):
        assert re.search(r"\$\{[A-Z_]+:\?", environment[key]), key


def test_compose_env_example_lists_every_variable_the_compose_file_needs() -> None:
    needed = set(re.findall(r"\$\{([A-Z_]+):\?", (DEPLOY / "compose.yaml").read_text()))
    assert needed <= set(_env_file(DEPLOY / "compose.env.example")), needed


def test_the_image_copies_every_package_anbu_installs() -> None:
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {name.rstrip("*") for name in include["include"]}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE))
    assert copied == packages


# ------------------------------------------------------------------------------------ Mosquitto


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_mosquitto_config_runs_durable_and_refuses_anonymous_clients(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed")
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    port = _free_port()
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    for directive in ("persistence true", "autosave_on_changes true", "allow_anonymous false"):
        assert re.search(rf"^{directive}$", conf, re.MULTILINE), directive
    # The same file, moved to a private port and directory (a broker of our own, loopback only).
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = conf.replace("/mosquitto/config/", f"{tmp_path}/").replace("/mosquitto/data/", f"{tmp_path}/data/")
    # Run as whoever runs the tests (as root, Mosquitto would switch to a user "mosquitto").
    conf += f"\nuser {getpass.getuser()}\n"
    (tmp_path / "data").mkdir()
    (tmp_path / "mosquitto.conf").write_text(conf)
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwords"), "anbu-gateway", "s3cret"], check=True
    )
    broker = subprocess.Popen(
        ["mosquitto", "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def connect(username: str | None, password: str | None) -> int:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"deploy-test-{username}")
            if username:
                client.username_pw_set(username, password)
            result: list[int] = []
            client.on_connect = lambda _c, _u, _f, rc, _p: result.append(int(rc.value))
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.connect("127.0.0.1", port)
                    break
                except OSError:
                    if time.monotonic() > deadline or broker.poll() is not None:
                        raise
                    time.sleep(0.1)
            while not result and time.monotonic() < deadline:
                client.loop(0.1)
            client.disconnect()
            return result[0] if result else -1

        assert connect("anbu-gateway", "s3cret") == 0
        assert connect(None, None) != 0  # anonymous refused
    finally:
        broker.terminate()
        out, _ = broker.communicate(timeout=10)
    assert b"Error" not in out, out.decode(errors="replace")
