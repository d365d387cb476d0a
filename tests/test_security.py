"""Token storage, Host parsing and unsafe settings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from savy.security import allowed_hosts_for, load_or_create_token, token_matches
from savy.settings import Settings


def test_token_created_private_and_stable(tmp_path: Path) -> None:
    t1 = load_or_create_token(tmp_path)
    assert len(t1) >= 32
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert load_or_create_token(tmp_path) == t1
    assert load_or_create_token(tmp_path / "other") != t1


def test_token_mode_repaired(tmp_path: Path) -> None:
    t = load_or_create_token(tmp_path)
    os.chmod(tmp_path / "token", 0o644)
    assert load_or_create_token(tmp_path) == t
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


def test_token_compare() -> None:
    assert token_matches("abc" * 10, "abc" * 10)
    assert not token_matches("abc" * 10, "abd" * 10)
    assert not token_matches(None, "x" * 20)
    assert not token_matches("", "x" * 20)


def test_unsafe_settings_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="loopback"):
        Settings(home=tmp_path, host="0.0.0.0")
    with pytest.raises(ValidationError, match="16"):
        Settings(home=tmp_path, token="short")
    with pytest.raises(ValidationError, match="allowed_origins"):
        Settings(home=tmp_path, allowed_origins=["*"])
    assert Settings(home=tmp_path, host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    assert Settings(home=tmp_path, host="::1").host == "::1"


def test_env_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAVY_PORT", "9999")
    monkeypatch.setenv("SAVY_HOME", str(tmp_path))
    monkeypatch.setenv("SAVY_ALLOWED_ORIGINS", "chrome-extension://abc,moz-extension://")
    s = Settings()
    assert s.port == 9999 and s.home == tmp_path
    assert s.allowed_origins == ["chrome-extension://abc", "moz-extension://"]


def test_allowed_hosts() -> None:
    assert allowed_hosts_for("127.0.0.1") == {"localhost", "127.0.0.1", "[::1]"}
    assert "192.168.1.5" in allowed_hosts_for("192.168.1.5")
