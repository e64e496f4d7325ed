"""One Settings object, read from environment variables and an optional ``loopml.toml``.

Precedence: explicit overrides > environment variables > ``loopml.toml`` > defaults. Every value is checked
when settings are loaded, and a wrong one raises ``ConfigError`` naming the variable that holds it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loopml.errors import ConfigError

CONFIG_FILE_NAME = "loopml.toml"


@dataclass(frozen=True)
class Settings:
    """Where loopml keeps its metadata and blobs, and how it behaves."""

    home: Path
    database_url: str
    artifact_root: str
    flush_interval: float = 1.0
    sqlite_busy_timeout: float = 60.0
    # team mode: with a server URL, the Store and the artifact store are the server's (RestStore)
    server_url: str | None = None
    token: str | None = None  # the API token sent to the server (Authorization: Bearer)
    auth: bool = False  # whether a server started here checks tokens even on a loopback address

    @property
    def artifact_path(self) -> Path:
        """The artifact root as a local folder."""
        return Path(self.artifact_root)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)


# field name -> (environment variable, toml key)
_SOURCES: dict[str, tuple[str, str]] = {
    "home": ("LOOPML_HOME", "home"),
    "database_url": ("LOOPML_DATABASE_URL", "database_url"),
    "artifact_root": ("LOOPML_ARTIFACT_ROOT", "artifact_root"),
    "flush_interval": ("LOOPML_FLUSH_INTERVAL", "flush_interval"),
    "sqlite_busy_timeout": ("LOOPML_SQLITE_BUSY_TIMEOUT", "sqlite_busy_timeout"),
    "server_url": ("LOOPML_SERVER_URL", "server_url"),
    "token": ("LOOPML_TOKEN", "token"),
    "auth": ("LOOPML_AUTH", "auth"),
}


def load_settings(
    env: Mapping[str, str] | None = None, cwd: Path | None = None, **overrides: Any
) -> Settings:
    """Read settings from ``env`` (default ``os.environ``) and ``loopml.toml``; validate every value."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    raw: dict[str, tuple[Any, str, Path]] = {}  # field -> (value, where it came from, base dir for paths)

    config_path = _config_file(env, cwd)
    if config_path is not None:
        for key, value in _read_toml(config_path).items():
            raw[key] = (value, f"{key} in {config_path}", config_path.parent)
    for name, (var, _) in _SOURCES.items():
        if env.get(var, "") != "":
            raw[name] = (env[var], var, cwd)
    for name, value in overrides.items():
        if name not in _SOURCES:
            raise ConfigError(f"Unknown setting {name!r}; known settings: {', '.join(_SOURCES)}.")
        if value is not None:
            raw[name] = (value, f"the {name} argument", cwd)

    home = _path(raw.get("home", ("./.loopml", "LOOPML_HOME", cwd)))
    database_url = (
        _database_url(raw["database_url"]) if "database_url" in raw else f"sqlite:///{home / 'loopml.db'}"
    )
    artifact_root = (
        _artifact_root(raw["artifact_root"]) if "artifact_root" in raw else str(home / "artifacts")
    )
    values: dict[str, Any] = {"home": home, "database_url": database_url, "artifact_root": artifact_root}
    for name in ("flush_interval", "sqlite_busy_timeout"):
        if name in raw:
            values[name] = _positive_seconds(raw[name])
    if "server_url" in raw:
        values["server_url"] = _server_url(raw["server_url"])
    if "token" in raw:
        values["token"] = _token(raw["token"])
    if "auth" in raw:
        values["auth"] = _flag(raw["auth"])
    return Settings(**values)


def _config_file(env: Mapping[str, str], cwd: Path) -> Path | None:
    explicit = env.get("LOOPML_CONFIG", "")
    if explicit:
        path = Path(explicit).expanduser()
        path = path if path.is_absolute() else cwd / path
        if not path.is_file():
            raise ConfigError(
                f"LOOPML_CONFIG={explicit!r}: no such file. Point it at a loopml.toml or unset it."
            )
        return path
    path = cwd / CONFIG_FILE_NAME
    return path if path.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read: a command that has none starts sooner

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix the file or remove it.") from exc
    table = data.get("loopml", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [loopml] must be a table of settings.")
    known = {toml_key for _, toml_key in _SOURCES.values()}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; known settings: {', '.join(sorted(known))}."
        )
    return dict(table)


def _path(item: tuple[Any, str, Path]) -> Path:
    value, where, base = item
    if not isinstance(value, str | os.PathLike) or str(value).strip() == "":
        raise ConfigError(f"{where}={value!r} must be a folder path.")
    path = Path(value).expanduser()
    path = (path if path.is_absolute() else base / path).resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{where}={value!r} is a file, not a folder. Point it at a folder (it is created if missing)."
        )
    return path


def _database_url(item: tuple[Any, str, Path]) -> str:
    value, where, base = item
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not isinstance(value, str):
        raise ConfigError(f"{where}={value!r} must be a database URL such as sqlite:///path/loopml.db.")
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ConfigError(
            f"{where}={value!r} is not a database URL. Use sqlite:///path/loopml.db or "
            "postgresql://user@host:5432/dbname."
        ) from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:" and not Path(url.database).is_absolute():
            url = url.set(database=str((base / url.database).resolve()))
        return url.render_as_string(hide_password=False)
    if backend == "postgresql":
        driver = url.get_driver_name()
        if driver not in ("psycopg", "psycopg2", "postgresql"):
            raise ConfigError(f"{where}: driver {driver!r} is not supported; use postgresql+psycopg://.")
        if importlib.util.find_spec("psycopg") is None:
            raise ConfigError(
                f"{where} points at PostgreSQL but psycopg is not installed: pip install 'loopml[postgres]'."
            )
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ConfigError(f"{where}={value!r}: database {backend!r} is not supported; use sqlite or postgresql.")


def _artifact_root(item: tuple[Any, str, Path]) -> str:
    value, where, _ = item
    if isinstance(value, str) and "://" in value:
        scheme = value.split("://", 1)[0]
        if scheme == "file":
            return str(_path((value.split("://", 1)[1], where, item[2])))
        raise ConfigError(
            f"{where}={value!r}: the {scheme}:// artifact store is not available in this version; "
            "use a local folder path."
        )
    return str(_path(item))


def _server_url(item: tuple[Any, str, Path]) -> str:
    value, where, _ = item
    from urllib.parse import urlsplit

    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{where}={value!r} must be the address of a loopml server, such as http://127.0.0.1:5050."
        )
    return str(value).rstrip("/")


def _token(item: tuple[Any, str, Path]) -> str:
    value, where, _ = item
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise ConfigError(f"{where} must be an API token as `loopml token create` prints it (one word).")
    return value.strip()


def _flag(item: tuple[Any, str, Path]) -> bool:
    value, where, _ = item
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{where}={value!r} must be 1 or 0 (true or false).")


def _positive_seconds(item: tuple[Any, str, Path]) -> float:
    value, where, _ = item
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r} must be a number of seconds, such as 1 or 0.5.") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{where}={value!r} must be a positive, finite number of seconds.")
    return seconds


__all__ = ["CONFIG_FILE_NAME", "Settings", "load_settings"]
