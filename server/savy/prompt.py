"""The prompt stage: build the model's input from `prompts/` templates and one request's analysis.

Templates use `{{name}}` placeholders. Values are substituted once, never re-expanded, and the
draft and customer message enter as *untrusted* segments (no special-token parsing). Everything
before the first per-request placeholder is byte-identical across requests, so the engine can keep
its KV cache for it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .analyse import Analysis
from .engine import Segment
from .rules import RuleBook

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# sentinels that survive a chat template's rendering untouched
_SENTINEL = "\x00SAVY:{}\x00"
_SENTINEL_RE = re.compile("\x00SAVY:(\\w+)\x00")
UNTRUSTED = frozenset({"draft", "customer"})


def render(template: str, values: dict[str, str],
           placeholder: re.Pattern[str] = _PLACEHOLDER) -> list[Segment]:
    """Split `template` on its placeholders; untrusted values become untrusted segments."""
    out: list[Segment] = []
    pos = 0
    for m in placeholder.finditer(template):
        out.append((template[pos:m.start()], True))
        name = m.group(1)
        if name not in values:
            raise KeyError(f"template needs {{{{{name}}}}}")
        out.append((values[name], name not in UNTRUSTED))
        pos = m.end()
    out.append((template[pos:], True))
    return [s for s in out if s[0]]


@dataclass
class PromptBuilder:
    """Turns (analysis, draft, customer) into segments for one of the prompt styles."""

    book: RuleBook
    style: str  # "completion" | "chat"
    chat_template: str | None = None

    @cached_property
    def _fixed(self) -> dict[str, str]:
        rules = "\n".join(
            f"- {r.title['en']} / {r.title['fi']}: {r.guidance['en']}" for r in self.book.rules)
        examples = ""
        if "example" in self._style:
            ex = tomllib.loads(self.book.text("examples.toml"))["examples"]
            shot = self.book.text(str(self._style["example"]))
            examples = "".join(
                "".join(t for t, _ in render(shot, {**e, "notes": e.get("notes", "")})) for e in ex)
        return {"rules": rules, "examples": examples}

    def notes(self, a: Analysis) -> str:
        """The per-request hints. Which parts a style includes is set in styles.toml: every part
        lengthens the part of the prompt that is evaluated afresh for each request."""
        lang, parts = a.language, self._style.get("notes", ["header", "findings"])
        lines = []
        if "header" in parts:
            lines.append(self.book.text(f"notes_{lang}.txt").strip()
                         .replace("{{emotion}}", a.customer_emotion).replace("{{address}}", a.address))
        if "guidance" in parts:
            lines += [f"- {r.guidance[lang]}" for r in a.applied]
        if "findings" in parts:
            for f in a.findings:
                fix = f" -> {f.suggestion}" if f.suggestion else ""
                lines.append(f'- "{f.text}"{fix}')
        if "facts" in parts and a.facts:
            lines.append(self.book.text(f"facts_{lang}.txt").strip() + " "
                         + "; ".join(f.text for f in a.facts))
        return "\n".join(lines)

    def build(self, a: Analysis, draft: str) -> list[Segment]:
        values = {**self._fixed, "notes": self.notes(a), "draft": draft.strip(),
                  "customer": a.customer_clean or "-"}
        template = self.book.text(str(self._style["template"]))
        if self.style == "chat":
            return self._chat(template, values)
        return render(template, values)

    @cached_property
    def _chat_template(self) -> Any:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return env.from_string(self.chat_template or "")

    def _chat(self, template: str, values: dict[str, str]) -> list[Segment]:
        """Render the GGUF's own chat template around our user message, then re-split it on the
        sentinels so the untrusted parts stay untrusted."""
        user = template
        for name in values:
            user = user.replace("{{%s}}" % name, _SENTINEL.format(name))
        rendered = self._chat_template.render(
            messages=[{"role": "user", "content": user}], add_generation_prompt=True,
            bos_token="", eos_token="")
        return render(rendered, values, _SENTINEL_RE)

    @cached_property
    def _style(self) -> dict[str, Any]:
        return tomllib.loads(self.book.text("styles.toml"))[self.style]

    @property
    def stop(self) -> tuple[str, ...]:
        return tuple(self._style["stop"])  # type: ignore[arg-type]
