"""A pydantic error of a definition as its user reads it: the key path (without pydantic's
union tags) and, for an unknown key, the nearest valid one."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic_core import ErrorDetails

from spark_etl.definitions.model import Entity


def _walk(location: tuple[Any, ...], root: Any = None) -> tuple[list[str], list[str]]:
    """The key path of a pydantic error location without union tags, and the keys valid at
    its last step (for a suggestion when that key is unknown)."""
    path: list[str] = []
    annotation: Any = root or Entity
    parts = list(location)
    while parts:
        part = parts.pop(0)
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            members = [m for m in typing.get_args(annotation) if m is not type(None)]
            if len(members) > 1:  # a tagged union: this part of the location is the tag
                annotation = next((m for m in members if _is_member(m, str(part))), None)
                continue
            annotation = members[0]
            origin = typing.get_origin(annotation)
        path.append(str(part))
        if origin in (dict, tuple):
            annotation = typing.get_args(annotation)[-1 if origin is dict else 0]
        elif hasattr(annotation, "model_fields") and part in annotation.model_fields:
            annotation = annotation.model_fields[part].annotation
        else:
            annotation = None
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # an optional section
        annotation = next(m for m in typing.get_args(annotation) if m is not type(None))
    valid = list(getattr(annotation, "model_fields", {}))
    return path, valid


def _is_member(model: Any, part: str) -> bool:
    """Whether a union member is the one a location part names: by its tag (rule, mode), or
    by its class name (pydantic writes ``function-after[_check(), Name]`` for validated ones)."""
    name = getattr(model, "__name__", "")
    return part in _tags(model) or re.search(rf"\b{re.escape(name)}\b", part) is not None


def _tags(model: Any) -> tuple[str, ...]:
    if not hasattr(model, "model_fields"):
        return ()
    for name in ("rule", "mode"):
        if name in model.model_fields:
            return typing.get_args(model.model_fields[name].annotation)
    return ()


def describe(error: ErrorDetails, root: Any = None) -> str:
    location = tuple(error["loc"])
    path, _ = _walk(location, root)
    key = ".".join(path)
    if error["type"] == "extra_forbidden":
        _, valid = _walk(location[:-1], root)
        close = difflib.get_close_matches(str(location[-1]), valid, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key '{key}'{hint}"
    return f"'{key}': {error['msg'].removeprefix('Value error, ')}"
