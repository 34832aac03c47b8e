"""``park.yaml`` is read strictly: a duplicate key or a number that is not finite is a one-line error naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from microgrid.case import load_case
from microgrid.errors import InvalidParkError
from microgrid.yaml_text import DuplicateKeyError, duplicate_keys, load_yaml
from tests.service.helpers import TINY_PARK, one_line_error, run, write_tiny_case

B1 = "{bus: pcc, capacity_kwh: 400, max_charge_kw: 200, max_discharge_kw: 200}"


def case_with_text(tmp_path: Path, text: str) -> Path:
    """The tiny case (its data files) with ``park.yaml`` replaced by ``text``."""
    folder = write_tiny_case(tmp_path / "case", TINY_PARK)
    (folder / "park.yaml").write_text(text)
    return folder


def park_text(**replace: str) -> str:
    """The tiny park as YAML without its batteries (added as text by the tests), placeholders replaced."""
    park = copy.deepcopy(TINY_PARK)
    del park["batteries"]
    text = yaml.safe_dump(park, sort_keys=False)
    for placeholder, value in replace.items():
        text = text.replace(placeholder, value)
    return text


@pytest.mark.parametrize(("text", "found"), [
    ("a: 1\nb: 2\n", []),
    ("a: 1\na: 2\n", [("a", 2)]),
    ("s:\n  x: {k: 1, k: 2}\n  y: [{p: 1}, {p: 1, p: 2}]\n", [("s.x.k", 2), ("s.y.1.p", 3)]),
    # a merge key overrides what it merges: not a duplicate
    ("base: &b {k: 1}\nother:\n  <<: *b\n  k: 2\n", []),
])
def test_duplicate_keys_by_path_and_line(text, found) -> None:
    assert duplicate_keys(yaml.compose(text)) == found


def test_load_yaml_keeps_what_safe_load_reads_without_duplicates() -> None:
    text = park_text() + f"batteries:\n  b1: {B1}\n"
    assert load_yaml(text, "park.yaml") == yaml.safe_load(text)


def test_a_duplicate_battery_is_refused_with_its_path_and_line(tmp_path: Path) -> None:
    text = park_text() + f"batteries:\n  b1: {B1}\n  b1: {B1.replace('400', '99999')}\n"
    with pytest.raises(DuplicateKeyError) as caught:
        load_case(case_with_text(tmp_path, text))
    assert caught.value.path == "batteries.b1" and caught.value.line == text.count("\n")
    assert str(caught.value) == (f"batteries.b1 (park.yaml, line {text.count(chr(10))}): duplicate key; "
                                 "give each key once")
    assert isinstance(caught.value, InvalidParkError)


@pytest.mark.parametrize(("constant", "field"), [(".inf", "grid.max_import_kw"), (".nan", "grid.max_import_kw"),
                                                 ("-.inf", "grid.max_import_kw")])
def test_a_number_that_is_not_finite_is_refused_naming_its_field(tmp_path: Path, constant, field) -> None:
    text = park_text(**{"max_import_kw: 2000": f"max_import_kw: {constant}"}) + f"batteries:\n  b1: {B1}\n"
    assert constant in text
    with pytest.raises(InvalidParkError, match=rf"^{field}: Input should be a finite number"):
        load_case(case_with_text(tmp_path, text))


def test_the_cli_answers_a_duplicate_key_and_infinity_in_one_line(tmp_path: Path) -> None:
    duplicate = park_text() + f"batteries:\n  b1: {B1}\n  b1: {B1}\n"
    one_line_error(run("schedule", str(case_with_text(tmp_path / "dup", duplicate)), "--date", "2026-07-15"),
                   "batteries.b1", "duplicate key")
    infinite = park_text() + f"batteries:\n  b1: {B1.replace('400', '.inf')}\n"
    one_line_error(run("schedule", str(case_with_text(tmp_path / "inf", infinite)), "--date", "2026-07-15"),
                   "batteries.b1.capacity_kwh", "finite")
