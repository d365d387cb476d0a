"""Which model, which LoRA, which prompt style: the embedded default gets Sävy's adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from savy import model as M
from savy.app import _choose_style
from savy.errors import SavyError
from savy.settings import Settings


def test_adapter_applies_only_to_the_embedded_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "savy-adapter.gguf"
    fake.write_bytes(b"GGUF")
    monkeypatch.setattr(M, "ADAPTER_PATH", fake)
    assert M.resolve_lora(None, None, True) == (fake, M.ADAPTER_NAME)
    assert M.resolve_lora(None, None, False) == (None, None)  # SAVY_ADAPTER=0 / --no-adapter
    assert M.resolve_lora(tmp_path / "other.gguf", None, True) == (None, None)  # trained for Gemma 3 270M only
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(b"GGUF")
    assert M.resolve_lora(None, mine, True) == (mine, "mine")  # a user's --lora wins
    with pytest.raises(SavyError) as e:
        M.resolve_lora(None, tmp_path / "missing.gguf", True)
    assert e.value.code == "lora_not_found"


def test_prompt_style_follows_the_adapter(tmp_path: Path) -> None:
    auto = Settings(home=tmp_path)
    assert _choose_style(auto, None, M.ADAPTER_NAME) == "adapter"
    assert _choose_style(auto, None, None) == "completion"
    assert _choose_style(auto, "{{ messages }}", None) == "chat"
    assert _choose_style(Settings(home=tmp_path, prompt_style="completion"), None, M.ADAPTER_NAME) == "completion"


def test_adapter_setting_reads_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAVY_ADAPTER", "0")
    assert Settings(home=tmp_path).adapter is False
    monkeypatch.delenv("SAVY_ADAPTER")
    assert Settings(home=tmp_path).adapter is True
