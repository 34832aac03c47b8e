"""Reading YAML documents strictly: a duplicate mapping key is an error naming its path.

PyYAML's ``safe_load`` keeps the last of duplicate keys, so a park whose
``batteries`` section names ``b1`` twice silently loses one of them.
:func:`load_yaml` refuses it: ``batteries.b1 (park.yaml, line 12): duplicate
key; give each key once``.
"""

from __future__ import annotations

from typing import Any

import yaml

from microgrid.errors import InvalidParkError

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(InvalidParkError):
    """A mapping of a YAML document names a key twice.

    Attributes
    ----------
    path : str
        Dotted path of the key (``batteries.b1``).
    line : int
        Line of its second occurrence (1-based).
    """

    def __init__(self, path: str, line: int, what: str) -> None:
        self.path, self.line = path, line
        super().__init__(f"{path} ({what}, line {line}): duplicate key; give each key once")


def duplicate_keys(node: yaml.Node) -> list[tuple[str, int]]:
    """Path and line of each repeated key in a composed YAML document (iterative: any depth).

    Merge keys (``<<``) are left out: overriding a merged key is what they are for.
    """
    found: list[tuple[str, int]] = []
    stack: list[tuple[tuple[str, ...], yaml.Node]] = [((), node)]
    seen_nodes: set[int] = set()
    while stack:
        path, item = stack.pop()
        if id(item) in seen_nodes:  # an alias of a node already checked
            continue
        seen_nodes.add(id(item))
        if isinstance(item, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in item.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
                if key is not None and key in keys:
                    found.append((".".join(path + (key,)), key_node.start_mark.line + 1))
                if key is not None:
                    keys.add(key)
                stack.append((path + (key if key is not None else "?",), value_node))
        elif isinstance(item, yaml.SequenceNode):
            stack.extend((path + (str(k),), child) for k, child in enumerate(item.value))
    return sorted(found, key=lambda f: f[1])


class UniqueKeyLoader(yaml.SafeLoader):
    """A :class:`yaml.SafeLoader` that refuses duplicate mapping keys (:class:`DuplicateKeyError`)."""

    what = "YAML"

    def construct_document(self, node: yaml.Node) -> Any:
        duplicates = duplicate_keys(node)
        if duplicates:
            path, line = duplicates[0]
            raise DuplicateKeyError(path, line, self.what)
        return super().construct_document(node)


def load_yaml(text: str, what: str) -> Any:
    """The YAML document in ``text``, refusing duplicate keys; one-line errors naming ``what``.

    Parameters
    ----------
    text : str
        The YAML text.
    what : str
        How errors name the document (``park.yaml``, ``park_yaml``).

    Raises
    ------
    DuplicateKeyError
        A mapping names a key twice.
    InvalidParkError
        ``text`` is not YAML.

    Examples
    --------
    >>> load_yaml("batteries: {b1: {capacity_kwh: 800}}", "park.yaml")
    {'batteries': {'b1': {'capacity_kwh': 800}}}
    >>> load_yaml("batteries:\\n  b1: {capacity_kwh: 800}\\n  b1: {capacity_kwh: 1}\\n", "park.yaml")
    Traceback (most recent call last):
    ...
    microgrid.yaml_text.DuplicateKeyError: batteries.b1 (park.yaml, line 3): duplicate key; give each key once
    """
    loader = None
    try:
        loader = UniqueKeyLoader(text)  # the reader refuses control characters already here
        loader.what = what
        return loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        raise InvalidParkError(f"{what}: character #x{exc.character:04x} at position {exc.position} is not "
                               "allowed in YAML; remove it or quote it as an escape") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidParkError(f"{what}: not valid YAML{where}; fix the syntax") from None
    finally:
        if loader is not None:
            loader.dispose()
