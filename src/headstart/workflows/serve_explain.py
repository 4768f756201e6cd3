"""`POST /explain` of `headstart serve`: a score per word of one text. Explanations run one at a
time, in a thread, on the server's own second copy of the model (loaded on the first request), so
the hooks Integrated Gradients sets on the embeddings never touch a prediction being served."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from headstart.errors import HeadstartError
from headstart.runs import Run, load_run
from headstart.workflows.serve_requests import RefusedError, checked_inputs, error_response


class ExplainRequest(BaseModel):
    """One text, and optionally the method and the label to explain."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(examples=["Shares in the bank rose 5% after results."])
    method: str | None = Field(None, description="ig or occlusion; default: the run's best.")
    label: str | None = Field(None, description="The label to explain; default: the predicted one.")


def add_explain_route(app: FastAPI, run: Run, max_chars: int) -> None:
    """POST /explain on `app`, explaining with a copy of `run`."""
    lock = threading.Lock()
    copies: list[Run] = []

    def explain(body: ExplainRequest) -> dict[str, Any]:
        with lock:
            if not copies:
                copies.append(load_run(run.path, device=str(run.predictor.placement.device)))
            return copies[0].explain([body.text], body.method, body.label)[0].to_dict()

    @app.post("/explain")
    async def explain_text(body: ExplainRequest, request: Request) -> JSONResponse:
        """A score per word of the text for the predicted (or the given) label."""
        try:
            checked_inputs([body.text], False, 1, max_chars)
            return JSONResponse(await asyncio.to_thread(explain, body))
        except RefusedError as refused:
            return error_response(request, refused.status, str(refused), refused.headers)
        except HeadstartError as error:
            return error_response(request, 422, str(error))
