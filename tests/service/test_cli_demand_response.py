"""A bad ``demand_response`` section of ``park.yaml`` is a one-line error of the CLI that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.service.helpers import TINY_PARK, one_line_error, run, write_tiny_case


@pytest.mark.parametrize(("section", "fragments"), [
    ({"baseline": "ten-of-ten"}, ("demand_response.baseline:", "'optimal-plan' or 'similar-days'")),
    ({"min_similar_days": 9}, ("demand_response: min_similar_days: 9 is more than similar_days (5)",)),
    ({"adjustment": "ratio"}, ("demand_response.adjustment:",)),
    ({"adjustment_cap_frac": -0.1}, ("demand_response.adjustment_cap_frac:",)),
])
def test_a_bad_demand_response_section_is_one_line_naming_the_field(tmp_path: Path, section, fragments) -> None:
    case = write_tiny_case(tmp_path / "case", {**TINY_PARK, "demand_response": section})
    result = run("schedule", str(case), "--date", "2026-07-15", "--out", str(tmp_path / "out"), "--no-plot")
    one_line_error(result, *fragments)


def test_a_good_section_plans_as_before(tmp_path: Path) -> None:
    case = write_tiny_case(tmp_path / "case", {**TINY_PARK, "demand_response": {"baseline": "similar-days",
                                                                                "adjustment": "scaling"}})
    assert yaml.safe_load((case / "park.yaml").read_text())["demand_response"]["baseline"] == "similar-days"
    result = run("schedule", str(case), "--date", "2026-07-15", "--out", str(tmp_path / "out"), "--no-plot")
    assert result.exit_code == 0, result.output
