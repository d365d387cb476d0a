"""`savy serve | rewrite | analyze | token` — the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    over: dict[str, Any] = {}
    for name in ("host", "port", "model", "lora", "n_threads", "allow_remote", "prompt_style", "rewrite_mode",
                 "engine_url", "engine_model"):
        value = getattr(args, name, None)
        if value not in (None, False):
            over[name] = value
    if getattr(args, "no_adapter", False):
        over["adapter"] = False
    try:
        return Settings(**over)
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise SystemExit(f"savy: {msgs}") from None


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="GGUF model path (default: embedded Gemma 3 270M; env SAVY_MODEL)")
    p.add_argument("--lora", type=Path, help="LoRA adapter GGUF (env SAVY_LORA)")
    p.add_argument("--threads", dest="n_threads", type=int, help="CPU threads (env SAVY_N_THREADS)")
    p.add_argument("--no-adapter", action="store_true",
                   help="run the embedded model without Sävy's adapter (env SAVY_ADAPTER=0)")
    p.add_argument("--prompt-style", choices=["auto", "completion", "chat", "adapter"],
                   help="completion (base models), chat (the GGUF's chat template) or adapter (Sävy's adapter format)")
    p.add_argument("--engine-url", help="an OpenAI-compatible server to use instead of the embedded model, "
                                        "e.g. http://gpu-box:8000/v1 (env SAVY_ENGINE_URL; the key: SAVY_ENGINE_API_KEY)")
    p.add_argument("--engine-model", help="the model name the remote engine expects (env SAVY_ENGINE_MODEL)")
    p.add_argument("--rewrite-mode", choices=["auto", "compose", "free"],
                   help="compose: keep the agent's sentences and let the model choose an opening and closing; "
                        "free: the model writes the whole rewrite; auto: compose with the embedded model (env SAVY_REWRITE_MODE)")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Sävy on http://{settings.host}:{settings.port}  (token: `savy token`)", file=sys.stderr)
    from .protocol import guarded_protocol

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level, access_log=False, server_header=False,
                http=guarded_protocol(settings.read_timeout_s))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from .security import load_or_create_token

    settings = _settings(args)
    print(settings.token or load_or_create_token(settings.home))
    return 0


def _read_draft(args: argparse.Namespace) -> str:
    if args.draft is not None:
        return str(args.draft)
    if sys.stdin.isatty():
        raise SystemExit("savy: give the draft with --draft TEXT or on standard input")
    return sys.stdin.read()


def _via_server(settings: Settings, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Use a running server when there is one (the model is already warm there)."""
    import httpx

    from .security import load_or_create_token

    base = f"http://127.0.0.1:{settings.port}"
    try:
        if not httpx.get(f"{base}/v1/health", timeout=1.0).json().get("ready"):
            return None
    except (httpx.HTTPError, ValueError):
        return None
    token = settings.token or load_or_create_token(settings.home)
    r = httpx.post(f"{base}/v1/rewrite", json=payload, timeout=settings.request_timeout_s + 5,
                   headers={"Authorization": f"Bearer {token}"})
    body: dict[str, Any] = r.json()
    if r.status_code != 200:
        err = body.get("error", {})
        raise SystemExit(f"savy: {err.get('message', r.text)}")
    return body


def _in_process(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    from .app import build_state
    from .errors import SavyError
    from .schemas import RewriteRequest

    try:
        req = RewriteRequest(**payload)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise SystemExit(f"savy: {'.'.join(map(str, e['loc']))}: {e['msg']}") from None
    state = build_state(settings)
    try:
        return asyncio.run(state.rewriter.run(req)).model_dump()
    except SavyError as exc:
        raise SystemExit(f"savy: {exc.message}") from None
    finally:
        state.engine.stop()  # type: ignore[attr-defined]


def cmd_rewrite(args: argparse.Namespace) -> int:
    settings = _settings(args)
    payload = {"draft": _read_draft(args), "customer_message": args.customer, "language": args.language}
    result = None if args.local else _via_server(settings, payload)
    if result is None:
        result = _in_process(settings, payload)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(result["rewrite"])
        for w in result["warnings"]:
            print(f"savy: {w}", file=sys.stderr)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .analyse import analyse
    from .rules import RuleBook

    settings = _settings(args)
    a = analyse(RuleBook.load(settings.prompts_dir), _read_draft(args), args.customer, args.language)
    print(json.dumps({"language": a.language, "address": a.address, "customer_emotion": a.customer_emotion,
                      "signals": a.signals, "findings": [asdict(f) for f in a.findings],
                      "facts": [asdict(f) for f in a.facts]}, ensure_ascii=False, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="savy", description="Sävy: make customer-service replies warmer, locally.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the local API server")
    s.add_argument("--host", help="bind address (default 127.0.0.1; env SAVY_HOST)")
    s.add_argument("--port", type=int, help="port (default 8765; env SAVY_PORT)")
    s.add_argument("--allow-remote", action="store_true", help="permit a non-loopback --host")
    _add_model_flags(s)
    s.set_defaults(func=cmd_serve)

    r = sub.add_parser("rewrite", help="rewrite one draft (uses a running server, else loads the model)")
    r.add_argument("--draft", help="the draft (default: standard input)")
    r.add_argument("--customer", help="the customer's last message")
    r.add_argument("--language", choices=["auto", "fi", "en"], default="auto")
    r.add_argument("--json", action="store_true", help="print the whole response object")
    r.add_argument("--local", action="store_true", help="never use a running server")
    r.add_argument("--port", type=int, help="port of a running server (env SAVY_PORT)")
    _add_model_flags(r)
    r.set_defaults(func=cmd_rewrite)

    a = sub.add_parser("analyze", help="model-free hints: emotion, anti-patterns, facts")
    a.add_argument("--draft")
    a.add_argument("--customer")
    a.add_argument("--language", choices=["auto", "fi", "en"], default="auto")
    a.set_defaults(func=cmd_analyze)

    t = sub.add_parser("token", help="print the API token the browser extension needs")
    t.set_defaults(func=cmd_token)

    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
