"""Typed records read from YAML or JSON files: dataclasses whose fields are checked on the way in.

Model cards, recipes and results are files that people write or edit by hand and that CI reads. A typo
must fail with the file and the field named, not surface later as an ``AttributeError`` deep in a run.
:func:`parse_record` turns a mapping into a (nested) dataclass, checks every value against its field's
type hint, rejects unknown keys, runs each record's own semantic checks, and reports every problem at once.

Supported hints: ``str``, ``int``, ``float`` (ints accepted), ``bool`` (never confused with numbers),
``Any``, ``Optional[X]``, ``Union[...]`` (first alternative that fits), ``Literal[...]``,
``tuple[X, ...]``, ``tuple[X, Y]`` (exactly that many), ``Mapping[str, X]`` and nested dataclasses. A
dataclass may define ``record_problems(self)`` yielding ``(field, message)`` pairs for checks a type cannot
express; a field with ``metadata={"record": False}`` is not read from or written to files.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections import abc
from pathlib import Path
import types
import typing
from typing import Any, Literal, Mapping, Sequence, TypeVar, Union

import yaml

# Fields that name bytes or a commit: a sha256 and a full git commit hash, in lowercase hex.
SHA256 = re.compile(r"^[0-9a-f]{64}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")

T = TypeVar("T")
_UNION_TYPES = (Union, getattr(types, "UnionType", Union))  # ``X | Y`` hints exist from Python 3.10


class RecordError(ValueError):
    """A file's content does not fit its schema; ``problems`` lists every ``field: message``."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = str(source)
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"{self.source}: {self.problems[0]}"
        else:
            message = f"{self.source}: {len(self.problems)} problems: {'; '.join(self.problems)}"  # one line
        super().__init__(message)


def parse_record(cls: type[T], data: Any, source: str) -> T:
    """``data`` (a mapping read from ``source``) as an instance of the dataclass ``cls``, or RecordError."""
    problems: list[str] = []
    value = _convert(cls, data, "", problems)
    if problems:
        raise RecordError(source, problems)
    return value


def value_problems(hint: Any, value: Any, path: str) -> list[tuple[str, str]]:
    """What is wrong with ``value`` (at ``path``, non-empty) as a ``hint``: ``(field, message)`` pairs, none when
    it fits. For values that a record holds untyped (``Mapping[str, Any]``) and whose consumer types them: a
    neuron's parameters, an architecture's options."""
    problems: list[str] = []
    _convert(hint, value, path, problems)
    found = [(p, _PROBLEM.fullmatch(p)) for p in problems]
    return [(m["field"], m["message"]) if m else (path, p) for p, m in found]


_PROBLEM = re.compile(r"field '(?P<field>[^']+)': (?P<message>.*)", re.DOTALL)  # as _where writes them


MAX_YAML_NODES = 100_000  # values in a record once aliases are expanded


class StrictLoader(yaml.SafeLoader):
    """YAML as people write records: aliases bounded (a few hundred bytes of nested aliases expand to
    gigabytes when walked) and no key given twice (which would silently keep the last value)."""

    def compose_document(self):
        node = super().compose_document()
        sizes: dict[int, int] = {}

        def expanded(n) -> int:  # aliases share their node: count each use, compute each node once
            if id(n) not in sizes:
                children = (n.value if isinstance(n, yaml.SequenceNode) else
                            [v for pair in n.value for v in pair] if isinstance(n, yaml.MappingNode) else [])
                sizes[id(n)] = 1 + sum(expanded(c) for c in children)
            return sizes[id(n)]

        if node is not None and expanded(node) > MAX_YAML_NODES:
            raise yaml.YAMLError(f"expands to {expanded(node):,} values through its aliases; at most "
                                 f"{MAX_YAML_NODES:,} are read")
        return node

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise yaml.YAMLError(f"line {key_node.start_mark.line + 1}: key {key!r} is given twice")
                seen.add(key)
            except TypeError:  # an unhashable key: the SafeLoader says so below
                pass
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str):
    """``text`` parsed by :class:`StrictLoader`."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (StrictLoader is a SafeLoader)


def read_yaml_record(cls: type[T], path: Union[str, os.PathLike], what: str) -> T:
    """The YAML file at ``path`` as a ``cls`` record (its ``path`` field set, if it has one)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise RecordError(str(path), [f"is a folder, not a {what} file"])
        data = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except UnicodeDecodeError as err:
        raise RecordError(str(path), [f"not UTF-8 text (byte {err.start})"]) from None
    except yaml.YAMLError as err:
        raise RecordError(str(path), [f"not valid YAML: {err}"]) from None
    record = parse_record(cls, data, str(path))
    if "path" in {f.name for f in dataclasses.fields(cls)}:
        record = dataclasses.replace(record, path=path)
    return record


def record_to_dict(record: Any) -> Any:
    """The plain-data form of a record (dicts, lists, numbers, strings) that :func:`parse_record` reads back."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        # An optional field left at None is left out, as a person writing the file would.
        return {f.name: record_to_dict(getattr(record, f.name)) for f in record_fields(type(record))
                if not (getattr(record, f.name) is None and f.default is None)}
    if isinstance(record, Mapping):
        return {str(k): record_to_dict(v) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return [record_to_dict(v) for v in record]
    return record


def record_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("record", True)]


def _join(path: str, key: Union[str, int]) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _where(path: str) -> str:
    return f"field '{path}'" if path else "the file"


def describe(hint: Any) -> str:
    """A reader's name for a type hint, used in error messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if origin in _UNION_TYPES:
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {describe(args[0])}"
        return f"a list of {len(args)} values ({', '.join(describe(a) for a in args)})"
    if origin in (dict, abc.Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(hint, str(hint))


def _convert(hint: Any, value: Any, path: str, problems: list[str]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return _convert_dataclass(hint, value, path, problems)
    if origin in _UNION_TYPES:
        return _convert_union(hint, args, value, path, problems)
    if origin is Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        return _mismatch(hint, value, path, problems)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return _mismatch(hint, value, path, problems)
        if len(args) == 2 and args[1] is Ellipsis:
            items = (args[0],) * len(value)
        elif len(value) != len(args):
            problems.append(f"{_where(path)}: expected {describe(hint)}, got {len(value)} values")
            return None
        else:
            items = args
        return tuple(_convert(h, item, _join(path, i), problems) for i, (h, item) in enumerate(zip(items, value)))
    if origin in (dict, abc.Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            return _mismatch(hint, value, path, problems)
        item_hint = args[1] if args else Any
        return {k: _convert(item_hint, v, _join(path, k), problems) for k, v in value.items()}
    if hint is bool:
        return value if isinstance(value, bool) else _mismatch(hint, value, path, problems)
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _mismatch(hint, value, path, problems)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # NaN passes every comparison a check would make
                problems.append(f"{_where(path)}: expected a finite number, got {value!r}")
                return None
            return float(value)
        return _mismatch(hint, value, path, problems)
    if hint is str:
        return value if isinstance(value, str) else _mismatch(hint, value, path, problems)
    raise TypeError(f"records cannot hold fields of type {hint!r} ({path})")


def _mismatch(hint: Any, value: Any, path: str, problems: list[str]) -> None:
    problems.append(f"{_where(path)}: expected {describe(hint)}, got {value!r}")
    return None


def _convert_union(hint: Any, args: tuple, value: Any, path: str, problems: list[str]) -> Any:
    if value is None and type(None) in args:
        return None
    alternatives = [a for a in args if a is not type(None)]
    if len(alternatives) == 1:
        return _convert(alternatives[0], value, path, problems)
    for alternative in alternatives:
        trial: list[str] = []
        converted = _convert(alternative, value, path, trial)
        if not trial:
            return converted
    # Report against the alternative of the same shape, so a mapping gets its field-level problems.
    for alternative in alternatives:
        if dataclasses.is_dataclass(alternative) and isinstance(value, Mapping):
            return _convert(alternative, value, path, problems)
    return _mismatch(hint, value, path, problems)


def _convert_dataclass(cls: type, value: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(value, Mapping):
        return _mismatch(cls, value, path, problems)
    fields = {f.name: f for f in record_fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in value:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; expected {', '.join(fields)}"
            problems.append(f"{_where(_join(path, str(key)))}: unknown field{hint}")
    before = len(problems)
    kwargs = {}
    for name, field in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], _join(path, name), problems)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            problems.append(f"{_where(_join(path, name))}: missing (expected {describe(hints[name])})")
    if len(problems) > before:
        return None
    record = cls(**kwargs)
    check = getattr(record, "record_problems", None)
    for name, message in check() if check is not None else ():
        problems.append(f"{_where(_join(path, name) if name else path)}: {message}")
    return record
