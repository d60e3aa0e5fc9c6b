"""Admin-written settings: schema, loading and validation."""

from config.loader import ConfigError, ConfigProblem, load_settings
from config.schema import ApiChannel, Settings, WebchatChannel

__all__ = [
    "ApiChannel",
    "ConfigError",
    "ConfigProblem",
    "Settings",
    "WebchatChannel",
    "load_settings",
]
