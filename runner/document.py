"""Reading a hostile document (an invocation, a credential): bounded, located, JSON types only.

A spec or a credential comes from whoever submits the invocation, so everything about it is
bounded before it can cost time or memory, and every error is one line that says *where* the
document is wrong and never repeats its text (it may hold a password):

- at most ``MAX_BYTES`` bytes (``MAX_YAML_BYTES`` of YAML), read no further; strict UTF-8;
- at most ``MAX_DEPTH`` levels of nesting and ``MAX_NODES`` values — counted from YAML's events
  with aliases expanded, so an alias bomb is refused before it is built;
- integers of at most ``MAX_INT_DIGITS`` digits, finite floats, string keys, and nothing JSON
  cannot carry: a YAML date, ``!!binary`` or ``!!set`` is refused naming its field, before
  anything connects (they used to fail at the first write, after connecting).
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from runner.errors import ConfigurationError

#: A spec may carry an object_put's data (base64): JSON up to this size...
MAX_BYTES = 64 * 1024 * 1024
#: ...YAML, parsed far slower, up to this one.
MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
_PIECE = 1024 * 1024
MAX_NODES = 100_000
MAX_INT_DIGITS = 100


class _Refused:
    """Stands in for a value the parser must not build; the tree check names its field."""

    def __init__(self, why: str) -> None:
        self.why = why


def read_bounded(stream: IO[bytes], what: str, limit: int = MAX_BYTES) -> str:
    """At most ``limit`` bytes of strict UTF-8 text (a device or a huge file is not read on)."""
    chunks, size = [], 0
    while size <= limit:  # in pieces: read(limit + 1) would allocate the whole limit up front
        chunk = stream.read(min(_PIECE, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise ConfigurationError(f"{what}: larger than {limit} bytes")
    raw = b"".join(chunks)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigurationError(f"{what}: not UTF-8 text (byte {e.start})") from None


def load_path(path: str, what: str) -> Any:
    """The document in ``path`` (``-``: stdin), read and parsed with these bounds. ``OSError``
    when it cannot be read: each command says so in its own error type."""
    if path == "-":
        return parse_document(read_bounded(sys.stdin.buffer, what), what)
    with Path(path).open("rb") as stream:
        return parse_document(read_bounded(stream, what), what)


def parse_json(text: str, what: str) -> Any:
    """JSON with bounded integers and no NaN/Infinity; errors give line and column only."""
    try:
        value = json.loads(text, parse_int=_int, parse_constant=_constant)
    except json.JSONDecodeError as e:
        raise ConfigurationError(
            f"{what}: not valid JSON at line {e.lineno}, column {e.colno}"
        ) from None
    except RecursionError:
        raise ConfigurationError(f"{what}: nested deeper than {MAX_DEPTH} levels") from None
    check_tree(value, what)
    return value


def parse_document(text: str, what: str) -> Any:
    """JSON when it looks like a JSON object (fast), else YAML (a superset that says where)."""
    if not text.lstrip().startswith("{"):
        return parse_yaml(text, what)
    try:
        return parse_json(text, what)
    except ConfigurationError as e:
        if "not valid JSON" not in e.message:
            raise
        json_error = e
    try:  # a YAML flow mapping (`{a: 1}`) is not JSON
        return parse_yaml(text, what)
    except ConfigurationError:
        raise json_error from None


def parse_yaml(text: str, what: str) -> Any:
    if len(text) > MAX_YAML_BYTES:
        raise ConfigurationError(
            f"{what}: larger than {MAX_YAML_BYTES} bytes of YAML (a larger spec must be JSON)"
        )
    import yaml

    loader = _loader()
    try:
        _check_events(yaml.parse(text, Loader=loader), what)
        value = yaml.load(text, Loader=loader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigurationError(f"{what}: not valid YAML or JSON{where}") from None
    check_tree(value, what)
    return value


def _check_events(events: Iterator[Any], what: str) -> None:
    """Depth and alias-expanded size from the parser's events, before any node is built."""
    import yaml

    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]  # [anchor, values inside]
    for event in events:
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([event.anchor, 1])
            if len(stack) - 1 > MAX_DEPTH:
                raise _too(what, f"nested deeper than {MAX_DEPTH} levels", event)
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        stack[-1][1] += size
        if stack[-1][1] > MAX_NODES or stack[0][1] > MAX_NODES:
            raise _too(what, f"more than {MAX_NODES} values (aliases expanded)", event)


@functools.cache
def _loader() -> Any:
    """libyaml's safe loader (its depth is checked first), building only JSON's types."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc,valid-type]
        pass

    def integer(loader: Any, node: Any) -> Any:
        digits = len(node.value.lstrip("-+").replace("_", ""))
        if digits > MAX_INT_DIGITS:
            return _Refused(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
        return yaml.SafeLoader.construct_yaml_int(loader, node)

    def refuse(why: str) -> Any:
        return lambda _loader, _node: _Refused(why)

    Loader.add_constructor("tag:yaml.org,2002:int", integer)
    for tag, name in (("timestamp", "date or time"), ("binary", "!!binary"), ("set", "!!set")):
        why = f"a YAML {name} value, which JSON cannot carry (quote it to pass text)"
        Loader.add_constructor(f"tag:yaml.org,2002:{tag}", refuse(why))
    return Loader


def _too(what: str, why: str, event: Any) -> ConfigurationError:
    mark = event.start_mark
    return ConfigurationError(f"{what}: {why} at line {mark.line + 1}, column {mark.column + 1}")


def check_tree(value: Any, what: str) -> None:
    """Refuse what JSON cannot carry, naming its field; iterative, bounded by MAX_NODES."""
    pending: list[tuple[str, Any, int]] = [("", value, 0)]
    seen = 0
    while pending:
        path, node, depth = pending.pop()
        seen += 1
        if depth > MAX_DEPTH or seen > MAX_NODES:
            limit = f"deeper than {MAX_DEPTH} levels" if depth > MAX_DEPTH else "too large"
            raise ConfigurationError(f"{what}: {path or 'the document'} is nested {limit}")
        problem = _problem(node)
        if problem:
            raise ConfigurationError(f"{what}: {path or 'the document'}: {problem}")
        if isinstance(node, dict):
            pending.extend((_join(path, k), v, depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            pending.extend((f"{path}[{i}]", v, depth + 1) for i, v in enumerate(node))


def _problem(node: Any) -> str | None:
    if isinstance(node, _Refused):
        return node.why
    if isinstance(node, float) and not math.isfinite(node):
        return "not a finite number"
    if isinstance(node, dict):
        bad = next((k for k in node if not isinstance(k, str)), None)
        return None if bad is None else f"a key that is not a string ({type(bad).__name__})"
    if node is None or isinstance(node, (str, bool, int, float, list)):
        return None
    return f"a YAML {type(node).__name__} value, which JSON cannot carry (quote it)"


def _join(path: str, key: Any) -> str:
    text = str(key)
    # A key is shown only as one plain line: quoted when it holds control characters.
    name = text if text.isprintable() and len(text) <= 40 else repr(text[:40])
    return f"{path}.{name}" if path else name


def _int(text: str) -> int | _Refused:
    digits = len(text.lstrip("-+"))
    if digits > MAX_INT_DIGITS:
        return _Refused(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a finite number")
