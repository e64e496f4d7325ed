"""Settings come from env vars and loopml.toml; a wrong value fails at start and names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.config import load_settings
from loopml.errors import ConfigError


def test_defaults_live_under_dot_loopml(tmp_path: Path) -> None:
    s = load_settings(env={}, cwd=tmp_path)
    assert s.home == tmp_path / ".loopml"
    assert s.database_url == f"sqlite:///{tmp_path / '.loopml' / 'loopml.db'}"
    assert s.artifact_root == str(tmp_path / ".loopml" / "artifacts")
    assert s.flush_interval == 1.0


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "LOOPML_HOME": "h",
        "LOOPML_ARTIFACT_ROOT": str(tmp_path / "blobs"),
        "LOOPML_DATABASE_URL": "postgresql://u@db:5432/ml",
        "LOOPML_FLUSH_INTERVAL": "0.25",
    }
    s = load_settings(env=env, cwd=tmp_path)
    assert s.home == tmp_path / "h" and s.artifact_root == str(tmp_path / "blobs")
    assert s.database_url == "postgresql+psycopg://u@db:5432/ml" and s.flush_interval == 0.25


def test_toml_file_and_env_precedence(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text('home = "from-toml"\nflush_interval = 2\n')
    s = load_settings(env={}, cwd=tmp_path)
    assert s.home == tmp_path / "from-toml" and s.flush_interval == 2.0
    s = load_settings(env={"LOOPML_FLUSH_INTERVAL": "3"}, cwd=tmp_path)
    assert s.flush_interval == 3.0 and s.home == tmp_path / "from-toml"
    (tmp_path / "loopml.toml").write_text("[loopml]\nsqlite_busy_timeout = 5\n")
    assert load_settings(env={}, cwd=tmp_path).sqlite_busy_timeout == 5.0


def test_explicit_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "conf" / "team.toml"
    cfg.parent.mkdir()
    cfg.write_text('artifact_root = "blobs"\n')
    s = load_settings(env={"LOOPML_CONFIG": str(cfg)}, cwd=tmp_path)
    assert s.artifact_root == str(tmp_path / "conf" / "blobs")  # relative to the file


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LOOPML_FLUSH_INTERVAL": "soon"}, "LOOPML_FLUSH_INTERVAL"),
        ({"LOOPML_FLUSH_INTERVAL": "-1"}, "LOOPML_FLUSH_INTERVAL"),
        ({"LOOPML_SQLITE_BUSY_TIMEOUT": "inf"}, "LOOPML_SQLITE_BUSY_TIMEOUT"),
        ({"LOOPML_DATABASE_URL": "not a url"}, "LOOPML_DATABASE_URL"),
        ({"LOOPML_DATABASE_URL": "mysql://u@h/db"}, "LOOPML_DATABASE_URL"),
        ({"LOOPML_ARTIFACT_ROOT": "s3://bucket/prefix"}, "LOOPML_ARTIFACT_ROOT"),
        ({"LOOPML_CONFIG": "missing.toml"}, "LOOPML_CONFIG"),
    ],
)
def test_wrong_values_name_their_variable(tmp_path: Path, env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings(env=env, cwd=tmp_path)


def test_home_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"LOOPML_HOME.*is a file"):
        load_settings(env={"LOOPML_HOME": "afile"}, cwd=tmp_path)


def test_bad_toml_and_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text("home = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={}, cwd=tmp_path)
    (tmp_path / "loopml.toml").write_text('hme = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown setting.*hme"):
        load_settings(env={}, cwd=tmp_path)
    (tmp_path / "loopml.toml").write_text('flush_interval = "often"\n')
    with pytest.raises(ConfigError, match=r"flush_interval in .*loopml\.toml"):
        load_settings(env={}, cwd=tmp_path)


def test_team_mode_settings_are_read_and_checked(tmp_path: Path) -> None:
    settings = load_settings(
        env={"LOOPML_SERVER_URL": "http://127.0.0.1:5050/", "LOOPML_TOKEN": " lm_a_b ", "LOOPML_AUTH": "1"},
        cwd=tmp_path,
    )
    assert (settings.server_url, settings.token, settings.auth) == ("http://127.0.0.1:5050", "lm_a_b", True)
    assert load_settings(env={}, cwd=tmp_path).server_url is None
    with pytest.raises(ConfigError, match="LOOPML_SERVER_URL"):
        load_settings(env={"LOOPML_SERVER_URL": "127.0.0.1:5050"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="LOOPML_AUTH"):
        load_settings(env={"LOOPML_AUTH": "maybe"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="LOOPML_TOKEN"):
        load_settings(env={"LOOPML_TOKEN": "two words"}, cwd=tmp_path)
