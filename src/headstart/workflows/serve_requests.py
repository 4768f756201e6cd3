"""What `headstart serve` accepts: the /predict body, its checks, request ids, the bearer token,
and the one JSON shape of every error (`{"detail", "status", "request_id"}`).

User input never causes a 500: a body that is not the schema gets 422, oversize bodies and texts
413, empty texts 422. Error messages name the rule and the position of the text, never its content,
so no personal data reaches a client's logs or the server's.
"""

from __future__ import annotations

import hmac
import logging
import re
import traceback
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from headstart.data.io import holds_lone_surrogate
from headstart.extras import optional
from headstart.workflows.microbatch import Input

with optional("headstart serve"):  # the 'serve' extra
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException

REQUEST_ID_HEADER = "X-Request-ID"
_GIVEN_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")  # anything else is replaced, not echoed


class PredictRequest(BaseModel):
    """One input (`text`) or several (`texts`, or TEI's `inputs`: a string or a list); an input is
    a string, or [text, second text] for a run trained on sentence pairs; optionally a `coverage`."""

    model_config = ConfigDict(extra="forbid")
    text: str | tuple[str, str] | None = Field(None, examples=["Shares in the bank rose 5% after results."])
    texts: list[str | tuple[str, str]] | None = Field(None, examples=[["First text.", "Second text."]])
    inputs: str | list[str | tuple[str, str]] | None = Field(
        None, description="Text Embeddings Inference's name: a string (one answer) or a list."
    )
    coverage: float | None = Field(
        None,
        gt=0,
        lt=1,
        examples=[0.9],
        description="Classification: add each text's `label_set`, the labels that hold the true one "
        "with this probability (split conformal, calibrated on dev), and `uncertain` (not one label).",
    )

    def given(self) -> tuple[list[Input], bool]:
        """The inputs and whether they came as a list (answered as {"predictions": [...]})."""
        fields = [value for value in (self.text, self.texts, self.inputs) if value is not None]
        if len(fields) != 1:
            raise RefusedError(
                422, 'Send exactly one of "text" (one input), "texts" or "inputs" (a list of inputs).'
            )
        if isinstance(fields[0], list):
            return list(fields[0]), True
        single: Input = fields[0] if isinstance(fields[0], str) else (fields[0][0], fields[0][1])
        return [single], False


class RefusedError(Exception):
    """A request refused with an HTTP status and a reason."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


def checked_inputs(
    inputs: list[Input], pairs: bool, max_texts: int, max_chars: int
) -> list[tuple[str, str] | str]:
    """The inputs, or RefusedError when they break a rule or a limit."""
    if not inputs:
        raise RefusedError(422, "The list of inputs is empty; send at least one text.")
    if len(inputs) > max_texts:
        raise RefusedError(413, f"{len(inputs)} texts in one request; send at most {max_texts} per request.")
    if any(isinstance(item, tuple) != pairs for item in inputs):
        shape = "[text, second text] pairs" if pairs else "plain strings"
        trained = "sentence pairs" if pairs else "single texts"
        raise RefusedError(422, f"This model was trained on {trained}; send {shape}.")
    for number, item in enumerate(inputs):
        for part in (item,) if isinstance(item, str) else item:
            if len(part) > max_chars:
                message = f"Text {number} has {len(part)} characters; the limit is {max_chars}."
                raise RefusedError(413, f"{message} Split or shorten it.")
            if not part.strip():
                raise RefusedError(422, f"Text {number} is empty or only whitespace; send words to classify.")
            if holds_lone_surrogate(part):
                raise RefusedError(
                    422, f"Text {number} holds a lone UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode."
                )
    return inputs


def request_id(request: Request) -> str:
    """The client's X-Request-ID when it is a plain token, else a new one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _GIVEN_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def authorised(request: Request, api_key: str) -> bool:
    """Whether the request carries `Authorization: Bearer <api_key>` (compared in constant time)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error shape: {"detail": message, "status": status, "request_id": id}."""
    rid = getattr(request.state, "request_id", None) or request_id(request)
    body = {"detail": message, "status": status, "request_id": rid}
    return JSONResponse(body, status_code=status, headers={**(headers or {}), REQUEST_ID_HEADER: rid})


def validation_message(errors: list[dict[str, Any]]) -> str:
    """Pydantic's errors as one line: where and what, never the input's value."""
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"Invalid request at {where}: {first.get('msg', 'invalid value')}{more}. See /docs for the schema."


async def answer_or_500(
    request: Request, call_next: Callable[[Request], Awaitable[Response]], logger: logging.Logger
) -> Response:
    """The route's response; a fault inside becomes a 500 in the one shape, logged without data
    (the exception's type and where it was raised, and the request id)."""
    try:
        return await call_next(request)
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        place = f"{Path(frame.filename).name}:{frame.lineno}"
        logger.error(
            "internal error %s at %s (request %s)", type(error).__name__, place, request.state.request_id
        )
        return error_response(request, 500, "Internal server error; the server log names it by request id.")


def add_error_handlers(app: FastAPI) -> None:
    """FastAPI's own 4xx (a body that is not the schema, unknown routes and methods) in the one shape."""

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, validation_message(list(error.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(request, error.status_code, str(error.detail), dict(error.headers or {}))
