"""Options shared by commands (one name and one help text each) and flags generated from config
dataclasses: every field of `TrainConfig` (or of a strategy's or the server's config) becomes a
flag with the field's type, default and help, so nothing is declared twice.

Kept light on purpose: `headstart train --help` imports this module, never torch.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union

import typer
import yaml

from headstart.config import TrainConfig
from headstart.errors import ConfigError

Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress bars or status lines (results, errors and warnings still show)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
RunDir = Annotated[
    Path, typer.Argument(help="Run directory written by `headstart train`.", show_default=False)
]
Variant = Annotated[
    str,
    typer.Option(
        help="Model variant: fp32 (as trained), int8 (dynamic quantisation), "
        "onnx-int8 (after `headstart quantize`) or auto (the one quantize chose, else fp32)."
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace an existing output directory (only once the new one is complete)."
    ),
]
StartOver = Annotated[  # train, compare, tune, learning-curve: the same name and help in each
    bool,
    typer.Option(
        "--overwrite",
        help="Replace what --out holds: a run once the new one is complete; a comparison, search or "
        "curve is started over (without it, a rerun of those resumes if its options match).",
    ),
]
Options = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        help="Strategy option KEY=VALUE, repeatable (for several strategies: STRATEGY.KEY=VALUE).",
        show_default=False,
    ),
]
PairCol = Annotated[
    str | None,
    typer.Option(
        help="Second-text column of sentence pairs (default: the one used in training).", show_default=False
    ),
]

Command = TypeVar("Command", bound=Callable[..., None])


def config_flags(
    config_class: type,
    *,
    exclude: Collection[str] = (),
    only: Collection[str] | None = None,
    positional: str | None = None,
    optional: bool = True,
) -> list[inspect.Parameter]:
    """One typer parameter per field of a config dataclass (or per field in `only`), with the
    field's type, help and panel.

    With `optional` every flag defaults to None (help still shows the field's default), so a
    command can tell given flags from defaults, e.g. to override a config file. `positional` names
    the field taken as an argument instead of a flag."""
    hints = typing.get_type_hints(config_class)
    parameters = []
    for field in dataclasses.fields(config_class):
        skipped = field.name in exclude or (only is not None and field.name not in only)
        # Strategy options are --option KEY=VALUE; fields that are not flags are set by code.
        if skipped or field.name == "strategy_options" or not field.metadata.get("flag", True):
            continue
        kind, default = _flag_type(hints[field.name]), _default(field)
        panel, text = field.metadata.get("panel"), field.metadata.get("help", "")
        # Given defaults are shown as they are; a None default stands for "given or from the data".
        shown: bool | str = default not in (None, [], {}) and (str(default) if optional else True)
        if field.name == positional:
            info: Any = typer.Argument(None, help=text, show_default=False)
        elif kind is bool:
            flag = field.name.replace("_", "-")
            info = typer.Option(
                None if optional else default,
                f"--{flag}/--no-{flag}",
                help=text,
                show_default=shown,
                rich_help_panel=panel,
            )
        else:
            info = typer.Option(
                None if optional else default, help=text, show_default=shown, rich_help_panel=panel
            )
        annotation = kind | None if optional or default is None or field.name == positional else kind
        parameters.append(
            inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)
        )
    return parameters


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _flag_type(hint: Any) -> Any:
    """The type a flag parses: the field's type without None (lists stay lists of their items)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def with_flags(*flags: list[inspect.Parameter]) -> Callable[[Command], Command]:
    """Decorator: the command also takes the generated flags, as keyword arguments."""

    def decorate(command: Command) -> Command:
        generated = [p for group in flags for p in group]
        names = {p.name for p in generated}  # a command may name them too, for readers and type checkers
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(command, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD and p.name not in names
        ]
        ordered = own + generated

        @functools.wraps(command)
        def wrapper(**values: Any) -> None:
            command(**values)

        wrapper.__signature__ = inspect.Signature(ordered)  # type: ignore[attr-defined]  # read by typer
        return typing.cast(Command, wrapper)

    return decorate


def given(values: dict[str, Any], config_class: type = TrainConfig) -> dict[str, Any]:
    """The config fields among a command's arguments that were given (not None)."""
    names = {field.name for field in dataclasses.fields(config_class)}
    return {name: value for name, value in values.items() if name in names and value is not None}


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE flags → {key: value}, each value read as YAML (numbers, lists, true/false)."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"Strategy option '{pair}' must look like KEY=VALUE, e.g. --option c_values=[0.1,1]."
            )
        options[key.strip()] = yaml.safe_load(value)
    return options


def per_strategy_options(pairs: list[str] | None) -> dict[str, dict[str, Any]]:
    """STRATEGY.KEY=VALUE flags → {strategy: {key: value}}."""
    per_strategy: dict[str, dict[str, Any]] = {}
    for key, value in parse_options(pairs).items():
        name, dot, field = key.partition(".")
        if not dot or not field:
            raise ConfigError(f"--option here needs the strategy in front, e.g. lora.r=16; got '{key}'.")
        per_strategy.setdefault(name, {})[field] = value
    return per_strategy


def comma_list(text: str) -> list[str]:
    """'a, b,,c' → ['a', 'b', 'c']."""
    return [item.strip() for item in text.split(",") if item.strip()]


# --device and --precision, the same on every command that runs a model (TrainConfig's fields).
DEVICE = config_flags(TrainConfig, only=("device", "precision"), optional=False)
