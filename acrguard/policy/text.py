"""Reading a policy's YAML within bounds: its size, its alias expansion, and no duplicate keys.

Split from :mod:`acrguard.policy`: this is what stands between untrusted text and the validator.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from acrguard.policy.validate import PolicyError, clip, shown

MAX_POLICY_BYTES = 256 << 10  # a policy is a few kilobytes; this bounds the parse time (~1.5 s)
MAX_EXPANDED_VALUES = 100_000  # values after aliases are expanded (a real policy: a few hundred)

_MERGE = "tag:yaml.org,2002:merge"
TOO_BIG = "the file is larger than 256 KiB; a policy is a few kilobytes"


class _Unbounded(ValueError):
    """A document whose aliases expand without bound (an alias bomb, or an alias inside itself)."""


def _check_expansion(root: yaml.Node) -> None:
    """Count the values the document holds once every alias is expanded, without expanding any.

    PyYAML shares an aliased node, so composing and constructing stay cheap; everything after
    (merge keys, validation, an error message's repr) walks the expanded tree. Nine levels of nine
    aliases are 387 million values, so the count stops at :data:`MAX_EXPANDED_VALUES`.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise _Unbounded("an alias refers to its own anchor (a structure that contains itself)")
        open_nodes.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_VALUES:
                raise _Unbounded(
                    f"aliases expand the document to more than {MAX_EXPANDED_VALUES:,} values "
                    "(anchors reused inside anchors: an alias bomb?); a policy needs a few hundred"
                )
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


#: libyaml's parser when PyYAML has it (its wheels do): the pure-Python one was most of the policy
#: load on a cold start. Both give the same nodes; the checks below work on nodes.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """PyYAML keeps the last of duplicate keys silently; a policy must not (two rules, one lost).

    Only the keys written in a mapping are compared: keys that ``<<: *anchor`` merges in may be
    overridden there (that is what merge keys are for). PyYAML rewrites a merged mapping's node in
    place, so each node's own keys are noted before that happens.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._written: dict[int, list[yaml.Node]] = {}

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)  # before anything walks the expanded tree
        return node

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        self._written.setdefault(id(node), [key for key, _ in node.value])
        super().flatten_mapping(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node in self._written.get(id(node)) or [key for key, _ in node.value]:
            if key_node.tag == _MERGE:
                if _MERGE in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        "duplicate key '<<' (merge several with <<: [*a, *b])",
                        key_node.start_mark,
                    )
                seen.add(_MERGE)
                continue  # SafeLoader merges it below, and the keys written here win
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # `? [a, b]`: PyYAML's own check comes too late here
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a scalar, not a {type(key).__name__}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {shown(key)}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


#: What a path that is not a regular file is, in words (``stat.S_IS*`` -> name).
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_policy_text(path: Path) -> str:
    """A policy file's text; its size is bounded before it is read whole, and it must be UTF-8.

    Only a regular file is read: a FIFO blocks until a writer comes (forever, if none does), and a
    device reads as empty (/dev/null) or endless (/dev/zero). The file is opened without blocking
    and checked with ``fstat`` on that same descriptor, so nothing can be swapped in between.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except IsADirectoryError:
        fd = None  # Windows refuses to open a directory; POSIX opens it and fstat says what it is
    except OSError as exc:
        raise PolicyError(str(path), [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    if fd is None or not stat.S_ISREG(mode := os.fstat(fd).st_mode):
        if fd is not None:
            os.close(fd)
        kind = (
            "a directory" if fd is None else next((k for test, k in _FILE_KINDS if test(mode)), "not a file")
        )
        raise PolicyError(str(path), [("", f"{path} is {kind}, not a regular file; a policy is a YAML file")])
    try:
        with os.fdopen(fd, "rb") as file:
            raw = file.read(MAX_POLICY_BYTES + 1)  # never more: the size is bounded before parsing
    except OSError as exc:
        raise PolicyError(str(path), [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(str(path), [("", TOO_BIG)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(str(path), [("", f"not UTF-8 text (byte {exc.start})")]) from None


def load_yaml(text: str, source: str) -> Any:
    """The document in ``text``, or a :class:`PolicyError` saying why it cannot be read safely."""
    if len(text) > MAX_POLICY_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise PolicyError(source, [("", TOO_BIG)])
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _Unbounded as exc:
        raise PolicyError(source, [("", str(exc))]) from None
    except RecursionError:
        raise PolicyError(source, [("", "not valid YAML: nested too deeply")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = clip(getattr(exc, "problem", None) or str(exc))
        raise PolicyError(source, [("", f"{where}not valid YAML: {problem}")]) from None
