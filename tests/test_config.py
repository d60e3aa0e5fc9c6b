"""Settings files: every problem reported with file, field and reason; the hub refuses bad ones."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path, environ=None) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ or {})
    return [str(p) for p in error.value.problems]


def test_embedded_defaults_need_no_file():
    settings = load_settings(None, {})
    assert settings.database.url == "sqlite:///hub.db"
    assert [c.name for c in settings.channels] == ["webchat"]


def test_example_file_is_valid():
    example = Path(__file__).parents[1] / "config" / "example.yaml"
    environ = {
        "SMS_GATEWAY_TOKEN": "x" * 24,
        "HUB_SECRET_KEY": "k" * 32,
        "HUB_METRICS_TOKEN": "m" * 32,
        "SUPPORT_IMAP_PASSWORD": "imap secret",
        "SUPPORT_SMTP_PASSWORD": "smtp secret",
        "TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35,
        "TELEGRAM_WEBHOOK_SECRET": "telegram-webhook-secret",
        "SLACK_BOT_TOKEN": "xoxb-1-example",
        "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
        "SLACK_APP_TOKEN": "xapp-1-example",
        "WEBCHAT_IDENTITY_SECRET": "w" * 32,
        "SMS_GATEWAY_SIGNING_KEY": "s" * 32,
        "TWILIO_AUTH_TOKEN": "t" * 32,
        "TWILIO_API_KEY_SECRET": "s" * 32,
        "WHATSAPP_ACCESS_TOKEN": "EAAG" + "a" * 40,
        "WHATSAPP_APP_SECRET": "s" * 32,
        "WHATSAPP_VERIFY_TOKEN": "v" * 24,
    }
    settings = load_settings(example, environ)
    assert {c.kind for c in settings.channels} == {
        "webchat",
        "api",
        "email",
        "slack",
        "telegram",
        "twilio",
        "whatsapp",
    }


def test_every_problem_is_named_with_file_field_and_reason(tmp_path):
    path = write(
        tmp_path,
        """
        database: {url: "mysql://db"}
        http: {port: 70000, colour: blue}
        channels:
          - {kind: webchat, name: web}
          - {kind: api, name: sms, token_env: SMS_TOKEN, callback_url: "ftp://x"}
          - {kind: api, name: web, token_env: "not a name"}
        """,
    )
    found = problems(path)
    assert f"{path}: database.url: must start with sqlite:/// or postgresql://" in found
    assert f"{path}: http.port: Input should be less than or equal to 65535" in found
    assert f"{path}: http.colour: unknown setting" in found
    assert f"{path}: channels[1].token_env: environment variable SMS_TOKEN is not set" in found
    assert f"{path}: channels[1].callback_url: must be an http:// or https:// URL" in found
    assert f"{path}: channels[2].token_env: must be the name of an environment variable" in found


def test_duplicate_channel_names_are_refused(tmp_path):
    path = write(
        tmp_path,
        """
        channels:
          - {kind: webchat, name: web}
          - {kind: webchat, name: web}
        """,
    )
    assert problems(path) == [
        f"{path}: channels: Value error, channel name 'web' is used twice".replace(
            "Value error, ", ""
        )
    ]


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    path = write(tmp_path, "http:\n  port: [8080\n")
    (found,) = problems(path)
    assert found.startswith(f"{path}: line ")
    assert "invalid YAML" in found


def test_missing_file_is_reported(tmp_path):
    assert problems(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: (file): file not found"]


def test_secrets_are_read_from_the_environment_and_never_shown(tmp_path):
    path = write(
        tmp_path,
        """
        channels:
          - {kind: api, name: sms, token_env: SMS_TOKEN}
        """,
    )
    settings = load_settings(path, {"SMS_TOKEN": "super-secret-value"})
    assert settings.channels[0].token_env.reveal() == "super-secret-value"
    assert "super-secret-value" not in repr(settings)
    assert "super-secret-value" not in str(settings.model_dump())


def run_hub(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_check_config_command_reports_problems_and_exit_code(tmp_path):
    bad = write(tmp_path, "http: {port: -1}\n")
    result = run_hub("check-config", str(bad))
    assert result.returncode == 1
    assert f"{bad}: http.port: Input should be greater than or equal to 0" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text("http: {port: 8081}\n")
    result = run_hub("check-config", str(good))
    assert result.returncode == 0
    assert "OK" in result.stdout


def test_hub_refuses_to_start_on_an_invalid_config(tmp_path):
    bad = write(tmp_path, "channels: [{kind: api, name: sms, token_env: NOT_SET_ANYWHERE}]\n")
    result = run_hub("run", "--config", str(bad))
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert (
        "channels[0].token_env: environment variable NOT_SET_ANYWHERE is not set" in result.stderr
    )


def test_contact_hours_problems_are_named_inside_the_calendar(tmp_path):
    path = write(
        tmp_path,
        """
        hours:
          zone: Mars/Olympus
          weekly:
            mon: ["09:00-12:00", "11:00-13:00"]
            tue: ["17:00-08:00"]
            wed: [{span: "22:00-06:00", overnight: true}]
        autoreply: "Back {until}"
        channels:
          - {kind: webchat, name: web, sla: {first_response_minutes: 0}}
        """,
    )
    found = problems(path)
    assert f"{path}: hours.zone: unknown time zone 'Mars/Olympus'" in found
    assert f"{path}: hours.weekly.mon[1]: overlaps 09:00-12:00" in found
    assert any(p.startswith(f"{path}: hours.weekly.tue[0]: closes 08:00") for p in found)
    assert not any("weekly.wed" in p for p in found), "an overnight span is accepted"
    assert any(p.startswith(f"{path}: autoreply: unknown placeholder {{until}}") for p in found)
    assert any(p.startswith(f"{path}: channels[0].sla.first_response_minutes") for p in found)


def test_the_old_sign_in_limit_setting_names_its_replacements(tmp_path):
    path = write(tmp_path, "auth: {login_attempts_per_minute: 10}\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}: auth: ")
    assert "replaced by client_failures_per_minute" in problem
    assert "account_failures" in problem


def test_the_shipped_deploy_trusts_its_own_proxy_network_only():
    """docker-compose.yml fixes its network's range; config/docker.yaml trusts exactly that."""
    root = Path(__file__).parents[1]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    [subnet] = [entry["subnet"] for entry in compose["networks"]["default"]["ipam"]["config"]]
    environ = {"HUB_SECRET_KEY": "k" * 32, "SMS_GATEWAY_TOKEN": "x" * 24}
    settings = load_settings(root / "config" / "docker.yaml", environ)
    assert settings.http.trusted_proxies == [subnet]
