"""`headstart tasks serve`: the task service's HTTP API.

Every route but /health needs `Authorization: Bearer <token>` of a client made with `headstart
tasks token`: apps ("app") get tasks and send answers; operators ("admin") also create projects,
add items, read reports, export and erase. Errors have serve's one shape {"detail", "status",
"request_id"}; bad input is a 4xx, never a 500, and no message repeats a text or a person's id.

    GET    /next-task?project=P&annotator=USER&lang=en,fr   → {"task": {...}} or {"task": null, "reason"}
    POST   /answers            {"assignment", "value", "seconds"} (the same twice: the first receipt)
    PUT    /projects/{name}    the project file as JSON                                  (admin)
    POST   /projects/{name}/items  {"step", "rows": [{"text", "language", "id"?, "gold"?}]} (admin)
    GET    /projects/{name}    progress, annotators, cost per settled item               (admin)
    GET    /projects/{name}/export?soft=false                                             (admin)
    GET    /projects/{name}/page   the project page (HTML): progress, agreement, quality, cost (admin)
    DELETE /annotators/{user}  erase the person's link to their answers                 (admin)
    GET    /work               the page where a person does tasks in a browser (it asks for a token)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError, DataError
from headstart.extras import optional
from headstart.microtasks.answers import ClosedItemError, UnknownAssignmentError
from headstart.microtasks.engine import MicroTasks
from headstart.microtasks.intake import UnknownProjectError
from headstart.microtasks.kinds import AnswerError
from headstart.microtasks.people import UnknownAnnotatorError
from headstart.microtasks.project import from_dict
from headstart.version import __version__
from headstart.workflows.serve_requests import add_error_handlers, answer_or_500, error_response, request_id

with optional("headstart tasks serve"):  # the 'tasks' extra
    from fastapi import Depends, FastAPI, Query, Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException

logger = logging.getLogger("headstart.tasks")
MAX_ROWS = 10_000  # items per POST
WEB = Path(__file__).parent / "web"
PAGE = {"html": "text/html; charset=utf-8", "js": "text/javascript", "css": "text/css"}
STATUS: dict[type[Exception], int] = {  # exception → HTTP status; other refusals are 422
    UnknownProjectError: 404,
    UnknownAssignmentError: 404,
    UnknownAnnotatorError: 404,
    ClosedItemError: 409,
}


class AnswerBody(BaseModel):
    """An answer to an assignment."""

    model_config = ConfigDict(extra="forbid")
    assignment: str = Field(max_length=36)
    value: Any
    seconds: float = Field(ge=0, le=86_400, description="How long the annotator took.")


class ItemsBody(BaseModel):
    """Items for one step."""

    model_config = ConfigDict(extra="forbid")
    step: str = Field(max_length=100)
    rows: list[dict[str, Any]] = Field(max_length=MAX_ROWS)


def create_app(tasks: MicroTasks) -> FastAPI:
    """The FastAPI app over `tasks`."""
    app = FastAPI(title="headstart tasks", version=__version__, docs_url=None, redoc_url=None)
    _add_errors(app)
    app_role = _role(tasks, ("app", "admin"))

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness (no token needed)."""
        return {"status": "ok", "schema": tasks.revision}

    @app.get("/work", include_in_schema=False)
    @app.get("/work.{suffix}", include_in_schema=False)
    def page(suffix: str = "html") -> Response:
        """The task page and its script and style (no token: the page asks the person for one)."""
        if suffix not in PAGE:
            raise HTTPException(404, "Not found; the task page is at /work.")
        body = (WEB / f"work.{suffix}").read_bytes()
        return Response(
            body, media_type=PAGE[suffix], headers={"Content-Security-Policy": "default-src 'self'"}
        )

    @app.get("/next-task", dependencies=[Depends(app_role)])
    def next_task(
        project: str = Query(max_length=100),
        annotator: str = Query(max_length=200, description="The app's own id of the person."),
        lang: str | None = Query(None, max_length=100, description="Their languages, e.g. en,fr."),
    ) -> dict[str, Any]:
        """The annotator's next task, or none with the reason."""
        languages = [code.strip() for code in lang.split(",") if code.strip()] if lang else None
        return tasks.next_task(project, annotator, languages)

    @app.post("/answers", dependencies=[Depends(app_role)])
    def answer(body: AnswerBody) -> dict[str, Any]:
        """Store an answer; sending it again returns the first receipt."""
        return tasks.answer(body.assignment, body.value, body.seconds)

    _add_admin_routes(app, tasks, _role(tasks, ("admin",)))
    return app


def _add_admin_routes(app: FastAPI, tasks: MicroTasks, admin_role: Callable[[Request], None]) -> None:
    """What operators do: projects, items, reports, the project page, export, erasure."""

    @app.put("/projects/{name}", dependencies=[Depends(admin_role)])
    def save_project(name: str, spec: dict[str, Any], request: Request) -> dict[str, str]:
        """Create or update a project from its file's content."""
        checked = from_dict(spec, "The project sent")
        if checked.name != name:
            raise ConfigError(
                f"The project sent is named '{checked.name}', not '{name[:100]}' as the URL says."
            )
        return {"project": tasks.save_project(checked, actor=request.state.client)}

    @app.post("/projects/{name}/items", dependencies=[Depends(admin_role)])
    def add_items(name: str, body: ItemsBody, request: Request) -> dict[str, int]:
        """Add items (gold ones with "gold") to a step."""
        return {"added": tasks.add_items(name, body.step, body.rows, actor=request.state.client)}

    @app.get("/projects/{name}", dependencies=[Depends(admin_role)])
    def project(name: str) -> dict[str, Any]:
        """Progress by step, annotators, cost per settled item."""
        return tasks.progress(name)

    @app.get("/projects/{name}/page", dependencies=[Depends(admin_role)], include_in_schema=False)
    def project_page(name: str) -> Response:
        """The project page, with its plots and the rules as a graph."""
        return Response(tasks.page(name), media_type="text/html; charset=utf-8")

    @app.get("/projects/{name}/export", dependencies=[Depends(admin_role)])
    def export(name: str, soft: bool = False) -> list[dict[str, Any]]:
        """The settled items of the last steps (with soft labels: p_<label>)."""
        return tasks.export(name, soft)

    @app.delete("/annotators/{user}", dependencies=[Depends(admin_role)])
    def erase(user: str, request: Request) -> dict[str, int]:
        """Erase the person's link to every answer they gave."""
        return tasks.erase(user, actor=request.state.client)


def _role(tasks: MicroTasks, roles: tuple[str, ...]) -> Callable[[Request], None]:
    """A dependency that admits a bearer token of one of `roles`."""

    def check(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        client = tasks.client(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if client is None:
            raise HTTPException(
                401, "Send 'Authorization: Bearer <token>' with a token from `headstart tasks token`."
            )
        if client.role not in roles:
            raise HTTPException(
                403, f"This route needs an admin token; '{client.name}' is an {client.role} token."
            )
        request.state.client = client.name

    return check


def _add_errors(app: FastAPI) -> None:
    """One error shape: headstart errors by kind, FastAPI's own 4xx, and a logged 500 for faults."""
    add_error_handlers(app)

    @app.exception_handler(ConfigError)
    @app.exception_handler(DataError)
    @app.exception_handler(AnswerError)
    async def refused(request: Request, error: Exception) -> JSONResponse:
        return error_response(request, STATUS.get(type(error), 422), str(error))

    @app.middleware("http")
    async def faults(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.request_id = request_id(request)
        return await answer_or_500(request, call_next, logger)
