"""Configuration: one ``Settings`` object from environment variables and ``loopml.toml``."""

from loopml.config._settings import CONFIG_FILE_NAME, Settings, load_settings

__all__ = ["CONFIG_FILE_NAME", "Settings", "load_settings"]
