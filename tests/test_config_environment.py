"""Settings from the environment (docs/configuration.md): variable, else file, else default."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from hub.logs import secret_values
from tests.support.processes import clean_environment

SLACK_SECRET = "0123456789abcdef0123456789abcdef"


def write(tmp_path: Path, text: str, name: str = "hub.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path | None, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ)
    return [str(p) for p in error.value.problems]


def test_a_variable_overrides_the_file_which_overrides_the_default(tmp_path):
    path = write(tmp_path, "http: {host: 0.0.0.0, port: 8081}\nlog: {format: json}\n")
    settings = load_settings(
        path, {"HUB_HTTP__PORT": "9000", "HUB_DATABASE__URL": "sqlite:///other.db"}
    )
    assert settings.http.port == 9000
    assert settings.http.host == "0.0.0.0"
    assert settings.database.url == "sqlite:///other.db"
    assert settings.log.format == "json"
    assert settings.http.max_body_bytes == 1024 * 1024


def test_lists_are_json_and_null_clears_a_setting(tmp_path):
    path = write(tmp_path, "absences: {hand_over_after_days: 3}\n")
    settings = load_settings(
        path,
        {
            "HUB_HTTP__TRUSTED_PROXIES": '["10.0.0.0/8", "192.168.1.1"]',
            "HUB_ABSENCES__HAND_OVER_AFTER_DAYS": "null",
        },
    )
    assert settings.http.trusted_proxies == ["10.0.0.0/8", "192.168.1.1"]
    assert settings.absences.hand_over_after_days is None


def test_hub_variables_that_are_no_setting_are_left_alone():
    settings = load_settings(
        None, {"HUB_METRICS_TOKEN": "m" * 32, "HUB_TEST_DATABASE_URL": "postgresql://x/y"}
    )
    assert settings.metrics.token_env is None
    assert settings.database.url == "sqlite:///hub.db"


def test_hub_config_names_the_file_when_no_path_is_given(tmp_path):
    named = write(tmp_path, "http: {port: 8082}\n", "named.yaml")
    given = write(tmp_path, "http: {port: 8083}\n", "given.yaml")
    assert load_settings(None, {"HUB_CONFIG": str(named)}).http.port == 8082
    assert load_settings(given, {"HUB_CONFIG": str(named)}).http.port == 8083
    missing = tmp_path / "missing.yaml"
    assert problems(None, {"HUB_CONFIG": str(missing)}) == [f"{missing}: (file): file not found"]


def test_channels_are_addressed_by_name_and_can_be_added_with_a_kind(tmp_path):
    path = write(
        tmp_path,
        """
        channels:
          - {kind: webchat, name: web-chat, title: Hello}
          - {kind: api, name: sms, token_env: SMS_TOKEN}
        """,
    )
    settings = load_settings(
        path,
        {
            "SMS_TOKEN": "t" * 24,
            "HUB_CHANNELS__WEB_CHAT__TITLE": "Talk to us",
            "HUB_CHANNELS__WEB_CHAT__AUTOREPLY": "{owner} answers at {opens}.",
            "HUB_CHANNELS__SMS__CALLBACK_URL": "https://gateway.example/out",
            "HUB_CHANNELS__DESK__KIND": "webchat",
            "HUB_CHANNELS__DESK__ALLOWED_ORIGINS": '["https://shop.example"]',
        },
    )
    web, sms, desk = settings.channels
    assert (web.name, web.title) == ("web-chat", "Talk to us")
    assert web.autoreply == "{owner} answers at {opens}."
    assert sms.callback_url == "https://gateway.example/out"
    assert sms.token_env.reveal() == "t" * 24
    assert (desk.name, desk.kind, desk.allowed_origins) == (
        "desk",
        "webchat",
        ["https://shop.example"],
    )
    assert problems(path, {"SMS_TOKEN": "t" * 24, "HUB_CHANNELS__NOPE__TITLE": "x"}) == [
        "environment: HUB_CHANNELS__NOPE: no channel nope in the settings file; "
        "set HUB_CHANNELS__NOPE__KIND to add one"
    ]


def test_without_a_file_the_default_channels_take_the_environments_settings():
    """No file: the built-in web chat stays beside a channel added by the environment."""
    settings = load_settings(
        None,
        {
            "HUB_CHANNELS__WEBCHAT__TITLE": "Talk to us",
            "HUB_CHANNELS__SMS__KIND": "api",
            "HUB_CHANNELS__SMS__TOKEN_ENV": "SMS_TOKEN",
            "SMS_TOKEN": "t" * 24,
        },
    )
    web, sms = settings.channels
    assert (web.name, web.kind, web.title) == ("webchat", "webchat", "Talk to us")
    assert (sms.name, sms.kind) == ("sms", "api")


def test_a_bad_value_is_named_by_its_variable(tmp_path):
    path = write(tmp_path, "http: {port: 8081}\nchannels: [{kind: webchat, name: web}]\n")
    assert problems(path, {"HUB_HTTP__PORT": "eighty"}) == [
        "environment: HUB_HTTP__PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    assert problems(path, {"HUB_HTTP__PROT": "1"}) == [
        "environment: HUB_HTTP__PROT: unknown setting"
    ]
    assert problems(path, {"HUB_CHANNELS__WEB__MAX_MESSAGE_CHARS": "0"}) == [
        "environment: HUB_CHANNELS__WEB__MAX_MESSAGE_CHARS: "
        "Input should be greater than or equal to 1"
    ]
    assert problems(path, {"HUB_HTTP__TRUSTED_PROXIES": '["10.0.0.0/8"'}) == [
        "environment: HUB_HTTP__TRUSTED_PROXIES: not valid JSON"
    ]


def test_file_problems_still_name_the_file_next_to_environment_problems(tmp_path):
    path = write(tmp_path, "http: {port: 70000}\n")
    assert sorted(problems(path, {"HUB_LOG__LEVEL": "loud"})) == [
        f"{path}: http.port: Input should be less than or equal to 65535",
        "environment: HUB_LOG__LEVEL: Input should be 'debug', 'info', 'warning' or 'error'",
    ]


def test_a_secret_named_by_a_field_can_come_from_a_file(tmp_path):
    secret = tmp_path / "sms_token"
    secret.write_text("token-from-a-docker-secret\n")
    path = write(tmp_path, "channels: [{kind: api, name: sms, token_env: SMS_TOKEN}]\n")
    settings = load_settings(path, {"SMS_TOKEN_FILE": str(secret)})
    assert settings.channels[0].token_env.reveal() == "token-from-a-docker-secret"
    assert "token-from-a-docker-secret" in secret_values(settings)
    assert "token-from-a-docker-secret" not in repr(settings)
    direct = load_settings(path, {"SMS_TOKEN": "the-variable-wins", "SMS_TOKEN_FILE": str(secret)})
    assert direct.channels[0].token_env.reveal() == "the-variable-wins"


def test_a_secret_field_reads_its_own_variable_or_file_without_a_line_in_the_file(tmp_path):
    key = tmp_path / "secret_key"
    key.write_text("k" * 40 + "\n")
    path = write(
        tmp_path,
        """
        channels:
          - {kind: slack, name: slack, bot_token_env: OLD_TOKEN, signing_secret_env: SIGNING}
        """,
    )
    environ = {
        "HUB_SECRET_KEY_FILE": str(key),
        "HUB_METRICS__TOKEN": "m" * 32,
        "HUB_CHANNELS__SLACK__BOT_TOKEN": "xoxb-from-the-environment",
        "SIGNING": SLACK_SECRET,
    }
    settings = load_settings(path, environ)
    assert settings.secret_key_env.reveal() == "k" * 40
    assert settings.metrics.token_env.reveal() == "m" * 32
    assert settings.channels[0].bot_token_env.reveal() == "xoxb-from-the-environment"
    assert problems(path, {**environ, "HUB_CHANNELS__SLACK__BOT_TOKEN": "xoxp-user"}) == [
        "environment: HUB_CHANNELS__SLACK__BOT_TOKEN: environment variable "
        "HUB_CHANNELS__SLACK__BOT_TOKEN must hold a bot token starting with xoxb-"
    ]


def test_an_unreadable_secret_file_is_named_with_its_variable_and_reason(tmp_path):
    missing = tmp_path / "absent"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert problems(None, {"HUB_SECRET_KEY_FILE": str(missing)}) == [
        f"environment: HUB_SECRET_KEY_FILE: cannot read {missing} (named by "
        "HUB_SECRET_KEY_FILE): No such file or directory"
    ]
    path = write(tmp_path, "channels: [{kind: api, name: sms, token_env: SMS_TOKEN}]\n")
    assert problems(path, {"SMS_TOKEN_FILE": str(empty)}) == [
        f"{path}: channels[0].token_env: {empty} (named by SMS_TOKEN_FILE) is empty"
    ]
    binary = tmp_path / "binary"
    binary.write_bytes(b"secret\xd0\x00")
    assert problems(None, {"HUB_SECRET_KEY_FILE": str(binary)}) == [
        f"environment: HUB_SECRET_KEY_FILE: {binary} (named by HUB_SECRET_KEY_FILE) "
        "is not UTF-8 text"
    ]


def run_hub(*args: str, **environ: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean_environment(), **environ},
    )


def test_the_hub_commands_read_the_environment(tmp_path):
    path = write(tmp_path, "http: {port: 8081}\n")
    result = run_hub("check-config", str(path), HUB_HTTP__PORT="eighty")
    assert result.returncode == 1
    assert "environment: HUB_HTTP__PORT: Input should be a valid integer" in result.stderr


def test_hub_run_without_config_reads_the_file_hub_config_names(tmp_path):
    path = write(tmp_path, "channels: [{kind: api, name: sms, token_env: NOT_SET_ANYWHERE}]\n")
    result = run_hub("run", HUB_CONFIG=str(path))
    assert result.returncode == 2
    assert f"{path}: channels[0].token_env: environment variable NOT_SET_ANYWHERE is not set" in (
        result.stderr
    )
