"""The `savy` command as a script would use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def savy(*args: str, home: Path, stdin: str | None = None, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, "SAVY_HOME": str(home), "SAVY_PORT": "1", **(env or {})}
    e.pop("SAVY_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "savy.cli", *args], input=stdin, text=True,
                          capture_output=True, env=e, timeout=timeout)


def test_token_printed_and_private(tmp_path: Path) -> None:
    r = savy("token", home=tmp_path)
    assert r.returncode == 0
    token = r.stdout.strip()
    assert len(token) >= 32 and (tmp_path / "token").read_text().strip() == token
    assert oct((tmp_path / "token").stat().st_mode & 0o777) == "0o600"
    assert savy("token", home=tmp_path).stdout.strip() == token


def test_analyze(tmp_path: Path) -> None:
    r = savy("analyze", "--draft", "Pahoittelemme odotusta. Lasku 88123 on korjattu.",
             "--customer", "Olen odottanut viikon!", home=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["language"] == "fi" and out["customer_emotion"] == "negative"
    assert any(f["rule_id"] == "thank-for-waiting" for f in out["findings"])


def test_serve_refuses_non_loopback(tmp_path: Path) -> None:
    r = savy("serve", "--host", "0.0.0.0", home=tmp_path, timeout=60)
    assert r.returncode != 0
    assert "loopback" in r.stderr and "Traceback" not in r.stderr


def test_rewrite_needs_a_draft(tmp_path: Path) -> None:
    r = savy("rewrite", "--local", "--draft", "   ", home=tmp_path, timeout=60)
    assert r.returncode != 0 and "draft" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.model
def test_rewrite_json_from_stdin(savy_home: Path) -> None:
    r = savy("rewrite", "--local", "--json", "--customer", "Thanks a lot!", home=savy_home,
             stdin="No problem. Invoice INV-2024-0193 is paid.")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"rewrite", "language", "customer_emotion", "applied_rules", "warnings", "source",
                        "model", "timings"}
    assert out["language"] == "en" and "INV-2024-0193" in out["rewrite"]
    assert "no problem" not in out["rewrite"].lower()
