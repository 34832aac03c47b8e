"""COP models of heat pumps and validation of heat devices."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from microgrid.heat import CopCarnot, CopTable, HeatPump


def test_cop_table_interpolates_and_holds_flat_outside() -> None:
    table = CopTable(source_temps_c=[0, 20], cops=[2.5, 3.5])
    assert table.cop(np.array([-10, 0, 10, 20, 30])).tolist() == pytest.approx([2.5, 2.5, 3.0, 3.5, 3.5])


def test_carnot_cop_by_hand() -> None:
    """Sink 90 °C, source 20 °C, η 0.5: 0.5 · 363.15 / 70 = 2.594."""
    model = CopCarnot(sink_temp_c=90, carnot_efficiency=0.5)
    assert model.cop(np.array([20.0]))[0] == pytest.approx(0.5 * 363.15 / 70)
    # The lift never drops below min_lift_k (10 K): a source at 85 °C counts as 80 °C.
    assert model.cop(np.array([85.0]))[0] == pytest.approx(0.5 * 363.15 / 10)


def test_fixed_source_heat_pump_uses_its_source_temperature() -> None:
    hp = HeatPump(bus="b", heat_bus="h", max_elec_kw=100, source="fixed", source_temp_c=40,
                  cop={"kind": "carnot", "sink_temp_c": 120, "carnot_efficiency": 0.45})
    cop = hp.cop_series(np.array([-5.0, 35.0]))
    assert cop.tolist() == pytest.approx([0.45 * 393.15 / 80] * 2)


def test_fixed_source_needs_its_temperature() -> None:
    with pytest.raises(ValidationError, match="source 'fixed' needs source_temp_c"):
        HeatPump(bus="b", heat_bus="h", max_elec_kw=100, source="fixed",
                 cop={"kind": "table", "source_temps_c": [0], "cops": [3]})


def test_cop_table_lengths_must_match() -> None:
    with pytest.raises(ValidationError, match="one COP per temperature"):
        CopTable(source_temps_c=[0, 10], cops=[3])
