"""Request and response models of the HTTP API (the contract the extension and scripts rely on)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_FIELD_CHARS = 8000

Language = Literal["fi", "en"]
Emotion = Literal["negative", "neutral", "positive"]


class RewriteRequest(BaseModel):
    """A draft to warm up, with the customer's last message as context (never as instructions)."""

    model_config = ConfigDict(extra="forbid")

    draft: str = Field(min_length=1, max_length=MAX_FIELD_CHARS, description="The agent's draft reply.")
    customer_message: str | None = Field(default=None, max_length=MAX_FIELD_CHARS,
                                         description="The customer's last message: quoted context only.")
    language: Literal["auto", "fi", "en"] = Field(default="auto", description="Language of the draft.")

    @field_validator("draft")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must contain text, not only whitespace")
        return v


AnalyzeRequest = RewriteRequest


class AppliedRule(BaseModel):
    id: str
    title: str


class Timings(BaseModel):
    total_ms: float
    prompt_tokens: int
    completion_tokens: int
    queue_ms: float = 0.0
    first_token_ms: float | None = None
    prompt_reused_tokens: int = 0


class Alternative(BaseModel):
    """The same rewrite with another opening sentence, for the agent to swap in with one click."""

    opener: str
    rewrite: str


class RewriteResponse(BaseModel):
    rewrite: str
    language: Language
    customer_emotion: Emotion
    applied_rules: list[AppliedRule]
    warnings: list[str]
    source: Literal["model", "rules", "draft"]
    model: str
    timings: Timings
    # the opening sentence the rewrite starts with (a constrained rewrite; null for a free one)
    opener: str | None = None
    alternatives: list[Alternative] = Field(default_factory=list)


class Finding(BaseModel):
    rule_id: str
    start: int
    end: int
    text: str
    message: str
    suggestion: str | None = None


class Fact(BaseModel):
    kind: str
    text: str
    start: int
    end: int


class AnalyzeResponse(BaseModel):
    language: Language
    address: Literal["te", "sinä", "you", "unknown"]
    customer_emotion: Emotion
    signals: list[str]
    findings: list[Finding]
    facts: list[Fact]


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    ready: bool
    # whether Finnish rewrites are checked for made-up words (the `finnish` extra, pyvoikko)
    finnish_word_check: bool


class RuleOut(BaseModel):
    id: str
    kind: str
    title: dict[str, str]
    guidance: dict[str, str]
    message: dict[str, str]
    source: dict[str, str]


class RulesResponse(BaseModel):
    rules: list[RuleOut]


class ErrorDetail(BaseModel):
    field: str | None
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_json, unauthorized, busy, timeout.")
    message: str
    field: str | None = None
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """Every error, whatever its status: `{"error": {"code", "message", "field", "details"}}`."""

    error: ErrorInfo
