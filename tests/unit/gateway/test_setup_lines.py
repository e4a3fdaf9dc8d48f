"""The setup lines staff paste into a device: exact per vendor, and every note worded in both
dashboard catalogues (the dashboard shows notes by code, never the English text)."""

from __future__ import annotations

import pytest

from api.routes.dashboard import MESSAGES
from core.enums import DeviceVendor, Language
from core.settings import Settings
from gateway.auth.setup_lines import setup_guide

PASSWORD = "s3cr3t-PASS"


def _settings(device_url: str) -> Settings:
    return Settings(_env_file=None, env="dev", mqtt_device_url=device_url)


def test_tasmota_is_one_backlog_line_with_user_password_and_topic() -> None:
    guide = setup_guide(
        DeviceVendor.TASMOTA,
        "kettle-hh0042",
        "tasmota:kettle-hh0042",
        PASSWORD,
        _settings("mqtt://10.0.0.2:1883"),
    )
    assert guide.lines == (
        "Backlog MqttHost 10.0.0.2; MqttPort 1883; MqttUser tasmota:kettle-hh0042; "
        f"MqttPassword {PASSWORD}; Topic kettle-hh0042",
    )
    assert [note.code for note in guide.notes] == ["tasmota_recommended"]


def test_esphome_is_yaml_with_its_own_prefix() -> None:
    guide = setup_guide(DeviceVendor.ESPHOME, "tv", "esphome:tv", PASSWORD, _settings("mqtt://10.0.0.2:1883"))
    assert guide.format == "yaml" and guide.lines[0] == "mqtt:"
    assert '  username: "esphome:tv"' in guide.lines and f'  password: "{PASSWORD}"' in guide.lines


@pytest.mark.parametrize("device_url", ["mqtt://10.0.0.2:1883", "mqtts://broker.example:8883"])
@pytest.mark.parametrize("vendor", list(DeviceVendor))
def test_every_vendor_and_note_has_dashboard_texts(vendor: DeviceVendor, device_url: str) -> None:
    guide = setup_guide(vendor, "plug-1", f"{vendor.value}:plug-1", PASSWORD, _settings(device_url))
    assert any(PASSWORD in line for line in guide.lines)
    for language in Language:
        keys = MESSAGES.keys(language)
        wanted = {f"identity.vendor.{vendor.value}", f"identity.where.{vendor.value}"}
        wanted |= {f"identity.note.{note.code}" for note in guide.notes}
        assert wanted <= keys, f"{language.value}: {sorted(wanted - keys)}"
        for note in guide.notes:
            text = MESSAGES.text(f"identity.note.{note.code}", language)
            for name, _value in note.params:
                assert f"%{name}%" in text
