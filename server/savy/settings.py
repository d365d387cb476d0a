"""Every setting of the Sävy server, read from `SAVY_*` environment variables and CLI flags.

Each field's description doubles as `savy serve --help` text.
"""

from __future__ import annotations

import os
import sys
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_home() -> Path:
    """The per-user data directory: token, assembled model, nothing else."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "savy"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "savy"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "savy"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Sävy server settings. Environment variables are the field names with a `SAVY_` prefix."""

    model_config = SettingsConfigDict(env_prefix="SAVY_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Where Sävy keeps its token and the assembled default model.")
    host: str = Field(default="127.0.0.1", description="Address to bind. Loopback only unless --allow-remote.")
    port: int = Field(default=8765, ge=1, le=65535, description="Port to listen on.")
    allow_remote: bool = Field(default=False, description="Permit binding a non-loopback address (teams behind their own proxy). Off by default.")
    token: str | None = Field(default=None, description="API token. Default: a random per-install token stored (mode 0600) in SAVY_HOME/token.")
    model: Path | None = Field(default=None, description="Path to a GGUF model. Default: the embedded Gemma 3 270M (Q4_K_M) from PyPI.")
    lora: Path | None = Field(default=None, description="Optional LoRA adapter (GGUF) applied on top of --model.")
    trim_vocab: bool = Field(default=True, description="Run the embedded model with its vocabulary trimmed to the tokens Finnish and English use (models/vocab; built at first start from the PyPI model, faster decoding, less memory); the prompt is tokenized with the full vocabulary, so the model sees the same tokens. SAVY_TRIM_VOCAB=0 runs the full model. A model given with --model is never modified.")
    adapter: bool = Field(default=True, description="Apply Sävy's own adapter (models/savy-adapter.gguf) to the embedded model. Off (SAVY_ADAPTER=0, --no-adapter): the bare base model with the few-shot prompt.")
    prompt_style: Literal["auto", "completion", "chat", "adapter"] = Field(default="auto", description="'completion' for base models, 'chat' uses the GGUF's own chat template, 'adapter' the short format Sävy's adapter was trained on; 'auto' picks adapter with Sävy's adapter, else chat when the GGUF has a template.")
    rewrite_mode: Literal["auto", "compose", "free"] = Field(default="auto", description="'compose' keeps the agent's sentences, fixes flagged phrases and lets the model choose an opening and a closing from prompts/bank (grammatical by construction: right for a small model); 'free' lets the model write the whole rewrite (a bigger model); 'auto' composes with the embedded model and writes freely with your own --model.")
    engine_url: str | None = Field(default=None, description="An OpenAI-compatible server to use instead of the embedded model, e.g. http://gpu-box:8000/v1 (vLLM, llama.cpp's llama-server, Ollama, LM Studio, llama-cpp-python's server). Empty: the embedded llama.cpp engine.")
    engine_model: str = Field(default="", description="The model name the remote engine expects (its /v1/models lists them).")
    engine_api_key: SecretStr | None = Field(default=None, description="API key for the remote engine, sent as a Bearer token. A secret: never logged, never shown in errors or /v1/health.")
    engine_concurrency: int = Field(default=4, ge=1, le=256, description="Rewrites Sävy sends to the remote engine at once (the server batches them); up to --queue-size more wait.")
    engine_timeout_s: float = Field(default=60.0, gt=0, description="Longest wait for the remote engine's answer; the upstream request is closed after it (504).")
    engine_ca_bundle: Path | None = Field(default=None, description="CA bundle (PEM) to verify the remote engine's https certificate (e.g. a team's own CA). Verification is always on for https.")
    engine_context_tokens: int = Field(default=8192, ge=1024, description="The remote model's context window in tokens (prompts longer than it get 413 before anything is sent).")
    prompts_dir: Path = Field(default=REPO_ROOT / "prompts", description="Directory with rules and prompt text.")
    n_threads: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, description="CPU threads for llama.cpp (default: all cores).")
    n_ctx: int = Field(default=8192, ge=1024, description="Context window in tokens.")
    max_new_tokens: int = Field(default=512, ge=16, description="Upper bound on tokens generated per rewrite.")
    queue_size: int = Field(default=4, ge=1, le=256, description="Requests that may wait for the engine; more get 503 with Retry-After.")
    request_timeout_s: float = Field(default=60.0, gt=0, description="A rewrite that runs longer is stopped (504).")
    read_timeout_s: float = Field(default=10.0, gt=0, description="A client gets this long to send its request headers, and as long again for its body; a stalled connection is closed.")
    max_body_bytes: int = Field(default=65536, ge=1024, description="Largest accepted request body (413 above).")
    allowed_origins: Annotated[list[str], NoDecode] = Field(default=["chrome-extension://", "moz-extension://"], description="Origin prefixes allowed to call the API; other Origins get 403.")
    api_docs: bool = Field(default=False, description="Serve the interactive API docs at /docs and /redoc (they load Swagger UI / ReDoc scripts from a CDN, on a page of your loopback server). Off by default; /openapi.json is always there.")
    log_text: bool = Field(default=False, description="DEBUG ONLY: write drafts and customer messages to the log. Off by default.")
    log_level: str = Field(default="info", description="Log level.")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, v: object) -> object:
        if isinstance(v, str) and not v.lstrip().startswith("["):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("engine_url", mode="before")
    @classmethod
    def _engine_url(cls, v: object) -> object:
        if v in (None, ""):
            return None
        url = str(v).strip().rstrip("/")
        if not url.startswith(("http://", "https://")) or "@" in url.split("/")[2]:
            raise ValueError("SAVY_ENGINE_URL must be an http:// or https:// address without credentials "
                             "(put the key in SAVY_ENGINE_API_KEY), e.g. http://gpu-box:8000/v1")
        return url

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> "Settings":
        if not is_loopback(self.host) and not self.allow_remote:
            raise ValueError(
                f"refusing to bind {self.host!r}: Sävy serves drafts and customer messages and binds "
                "loopback only; pass --allow-remote (SAVY_ALLOW_REMOTE=1) if you really mean it"
            )
        if self.token is not None and len(self.token) < 16:
            raise ValueError("SAVY_TOKEN must be at least 16 characters")
        if any(o in ("*", "null", "") for o in self.allowed_origins):
            raise ValueError("allowed_origins may not contain '*', 'null' or an empty entry")
        return self
