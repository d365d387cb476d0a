"""One error shape for every failure: `{"error": {"code", "message", "field", "details"}}`.

Nothing here ever puts a traceback in a response; unexpected exceptions are logged (without request
text) and answered with a plain 500 in the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

log = logging.getLogger("savy")


class SavyError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


class EngineBusy(SavyError):
    def __init__(self, retry_after_s: int = 2) -> None:
        super().__init__(503, "busy", "The rewrite engine is busy; retry shortly.",
                         headers={"Retry-After": str(retry_after_s)})


class EngineTimeout(SavyError):
    def __init__(self, seconds: float) -> None:
        super().__init__(504, "timeout", f"The rewrite took longer than {seconds:g} s and was stopped.")


def error_body(code: str, message: str, field: str | None = None,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field, "details": details or []}}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   details: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field, details), status_code=status, headers=headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the one error shape."""

    @app.exception_handler(SavyError)
    async def _savy(_: Request, exc: SavyError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                return error_response(400, "invalid_json", "The request body is not valid JSON.")
            field = _field_of(tuple(err.get("loc", ())))
            msg = str(err.get("msg", "invalid value"))
            if field is None and err.get("type") == "missing":
                msg = "a JSON object body is required"
            details.append({"field": field, "message": msg})
        first = details[0] if details else {"field": None, "message": "invalid request"}
        where = f"{first['field']}: " if first["field"] else ""
        return error_response(422, "invalid_request", where + first["message"], first["field"], details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's own words for a body it could not decode (invalid UTF-8, JSON nested too
            # deep, a number too long to parse): for the client that is invalid JSON
            return error_response(400, "invalid_json", "The request body is not valid JSON.")
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__, exc_info=exc)
        return error_response(500, "internal", "Internal error; the draft was not changed.")
