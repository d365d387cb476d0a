"""Export a trained PEFT adapter to the GGUF LoRA file the server loads (models/savy-adapter.gguf).

    python training/export.py training/runs/r1/epoch1 models/savy-adapter.gguf

Uses llama.cpp's convert_lora_to_gguf.py from the llama-cpp-python sdist (the same llama.cpp the
server runs), fetched from PyPI into ~/.cache/savy/ once; --llama-cpp points at an existing checkout.
The base "model" it needs is only config + tokenizer: train.py saves them as <run>/base_config.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path


def llama_cpp_dir(given: Path | None) -> Path:
    if given:
        return given
    ver = version("llama-cpp-python") if _has("llama_cpp") else "0.3.36"
    cache = Path.home() / ".cache" / "savy" / f"llama_cpp_python-{ver}"
    src = cache / f"llama_cpp_python-{ver}" / "vendor" / "llama.cpp"
    if not (src / "convert_lora_to_gguf.py").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "-d", str(cache), f"llama-cpp-python=={ver}"], check=True)
        with tarfile.open(next(cache.glob("llama_cpp_python-*.tar.gz"))) as tar:
            tar.extractall(cache, filter="data")
    return src


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def base_dir(adapter: Path, tmp: Path) -> Path:
    """config.json as convert_lora_to_gguf.py wants it: an architecture, no GGUF quantization block."""
    src = adapter.parent / "base_config"
    cfg = json.loads((src / "config.json").read_text())
    cfg["architectures"] = ["Gemma3ForCausalLM"]
    cfg.pop("quantization_config", None)
    out = tmp / "base"
    out.mkdir()
    for f in src.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("adapter", type=Path, help="PEFT adapter dir (adapter_config.json + safetensors)")
    ap.add_argument("out", type=Path, help="GGUF file to write")
    ap.add_argument("--llama-cpp", type=Path, help="llama.cpp source dir (default: from the PyPI sdist)")
    ap.add_argument("--outtype", default="f16", choices=["f32", "f16", "q8_0"])
    args = ap.parse_args()

    src = llama_cpp_dir(args.llama_cpp)
    with tempfile.TemporaryDirectory() as t:
        base = base_dir(args.adapter, Path(t))
        env = {**os.environ, "PYTHONPATH": str(src / "gguf-py")}
        subprocess.run([sys.executable, str(src / "convert_lora_to_gguf.py"), "--base", str(base),
                        "--outtype", args.outtype, "--outfile", str(args.out), str(args.adapter)],
                       check=True, env=env)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB, sha256 {digest}")


if __name__ == "__main__":
    main()
