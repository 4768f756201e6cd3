"""What the CLI prints for each kind of failure, and its exit code: one table, one line each.

Errors a user can fix (bad flags, HeadstartError) are one `error: ...` line and exit code 2;
anything else is a bug: `internal error: ...`, exit code 1. HEADSTART_DEBUG=1 shows tracebacks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import typer

# typer (0.24 and newer) vendors its own copy of click, whose exceptions are the ones raised.
from typer._click.exceptions import ClickException, UsageError

from headstart.errors import HeadstartError
from headstart.extras import EXTRAS, missing


@dataclass(frozen=True)
class Failure:
    """How one kind of exception is reported."""

    kind: type[BaseException] | tuple[type[BaseException], ...]
    exit_code: int
    message: Callable[[BaseException], str]
    traceback_when_debugging: bool = False
    applies: Callable[[BaseException], bool] = lambda _: True


def _usage(error: BaseException) -> str:
    assert isinstance(error, UsageError)
    hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
    return f"error: {error.format_message()}{hint}"


def _click(error: BaseException) -> str:
    assert isinstance(error, ClickException)
    return f"error: {error.format_message()}"


def _is_extra(error: BaseException) -> bool:
    name = getattr(error, "name", None) or ""
    return name.split(".")[0] in EXTRAS


def _missing_extra(error: BaseException) -> str:
    assert isinstance(error, ModuleNotFoundError)
    return str(missing(error, "This command"))


FAILURES = (  # first match wins
    Failure(UsageError, 2, _usage),
    Failure(ClickException, 2, _click),
    Failure((typer.Abort, KeyboardInterrupt), 130, lambda _: "error: interrupted"),
    Failure(HeadstartError, 2, lambda error: f"error: {error}", traceback_when_debugging=True),
    Failure(ModuleNotFoundError, 2, lambda error: f"error: {_missing_extra(error)}", applies=_is_extra),
    Failure(
        Exception,
        1,
        lambda error: (
            f"internal error: {type(error).__name__}: {error} (rerun with "
            "HEADSTART_DEBUG=1 for the traceback)"
        ),
        traceback_when_debugging=True,
    ),
)


def debugging() -> bool:
    """HEADSTART_DEBUG is set: tracebacks instead of one-line messages."""
    return os.environ.get("HEADSTART_DEBUG", "") not in ("", "0")


def report(error: BaseException) -> tuple[int, str]:
    """The exit code and the line to print for `error`; re-raised when debugging asks for tracebacks."""
    for failure in FAILURES:
        if isinstance(error, failure.kind) and failure.applies(error):
            if failure.traceback_when_debugging and debugging():
                raise error
            return failure.exit_code, failure.message(error)
    raise error
