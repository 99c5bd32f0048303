"""Stage configs: one dataclass each, mirrored 1:1 by CLI flags and YAML recipe keys.

Every field carries a default and a ``help`` text in its metadata. ``parse_config``
builds the argument parser from the dataclass, so a flag can never drift from the
field it sets: ``lora_r`` is ``--lora-r``; a bool ``use_x`` defaulting to True gets
``--x/--no-x``; ``--config recipe.yaml`` loads a recipe first and flags given on the
command line override it. Unknown recipe keys are refused with the file and key.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from reasoning.errors import InputError
from reasoning.io.fileio import write_text_atomic

C = TypeVar("C")


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
           default_factory: Any = dataclasses.MISSING, choices: Sequence[Any] | None = None) -> Any:
    """A dataclass field with CLI help (and optionally an explicit flag name or choices)."""
    metadata = {"help": help, "flag": flag, "choices": choices}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of ``X | None`` / ``Optional[X]``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def flag_name(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _parse_list(item_type: Any):
    def convert(text: str) -> list:
        return [item_type(part.strip()) for part in text.split(",") if part.strip()]
    return convert


def build_parser(cls: type, prog: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", metavar="RECIPE.yaml",
                        help="YAML recipe whose keys are this stage's fields; flags override it")
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        kind, _optional = _base_type(hints[field.name])
        name = flag_name(field)
        help_text = field.metadata.get("help", "")
        if kind is bool:
            positive = name
            if field.name.startswith("use_"):
                positive = "--" + field.name[4:].replace("_", "-")
            negative = "--no-" + positive[2:]
            group = parser.add_mutually_exclusive_group()
            group.add_argument(positive, dest=field.name, action="store_const", const=True,
                               default=argparse.SUPPRESS, help=help_text)
            group.add_argument(negative, dest=field.name, action="store_const", const=False,
                               default=argparse.SUPPRESS, help=f"disable {positive}")
            continue
        origin = typing.get_origin(kind)
        if origin in (list, tuple):
            (item,) = typing.get_args(kind)[:1] or (str,)
            converter = _parse_list(item)
            metavar = f"{item.__name__.upper()}[,...]"
        elif origin is dict:
            converter, metavar = _parse_mapping, "K=V[,...]"
        else:
            converter, metavar = kind, None
        parser.add_argument(name, dest=field.name, type=converter, default=argparse.SUPPRESS,
                            metavar=metavar, choices=field.metadata.get("choices"),
                            help=f"{help_text} (default: {_show_default(field)})")
    return parser


def _parse_mapping(text: str) -> dict[str, float]:
    result = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {part!r}")
        key, value = part.split("=", 1)
        result[key.strip()] = float(value)
    return result


def _show_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return "required"


def load_recipe(path: str | os.PathLike, cls: type) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise InputError("recipe file does not exist", file=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(f"invalid YAML: {exc}", file=path, line=None if line is None else line + 1) from None
    if not isinstance(data, dict):
        raise InputError("a recipe must be a mapping of field: value", file=path)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise InputError(f"unknown key for {cls.__name__}; known keys: {', '.join(sorted(known))}",
                             file=path, field=key)
    return data


def parse_config(cls: type[C], argv: Sequence[str] | None, prog: str, description: str | None = None) -> C:
    """Parse ``argv`` (with an optional ``--config`` recipe) into a validated ``cls``."""
    parser = build_parser(cls, prog, description)
    args = vars(parser.parse_args(argv))
    recipe = args.pop("config", None)
    values = load_recipe(recipe, cls) if recipe else {}
    values.update(args)
    try:
        refuse_uri_credentials(values)
        return cls(**values)
    except TypeError as exc:
        parser.error(str(exc))
    except InputError as exc:
        parser.error(str(exc))
    raise AssertionError("unreachable")


def config_to_dict(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}


def save_config(config: Any, path: str | os.PathLike, command: str | None = None) -> None:
    """Write the resolved config as a YAML recipe (headed by the command that reruns it)."""
    body = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    header = f"# {command}\n" if command else ""
    write_text_atomic(path, header + body)


def refuse_uri_credentials(values: Any) -> None:
    """An InputError naming the flag whose value is a URI with ``user:password@`` in it (the
    message never repeats the secret: see ``reasoning.io.fileio.redact_credentials``)."""
    from reasoning.errors import has_uri_credentials
    from reasoning.io.s3client import CREDENTIALS_IN_URI
    items = values.items() if isinstance(values, dict) else config_to_dict(values).items()
    for name, value in items:
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and has_uri_credentials(item):
                raise InputError(CREDENTIALS_IN_URI, field="--" + name.replace("_", "-"))


def require(condition: bool, message: str, flag: str) -> None:
    """Validation helper for ``__post_init__``: an error that names the flag."""
    if not condition:
        raise InputError(message, field=flag)
