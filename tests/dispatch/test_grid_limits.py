"""Per-step limits on the grid import (demand-response events), by hand.

The park of ``two_price_park``: a 100 kWh / 100 kW battery (η 0.9 each way,
empty at the start), 100 kW of load for two hours, valley (0.2 CNY/kWh) then
peak (1.0). Without limits the battery charges 100 kW in the valley (90 kWh
stored) and discharges 81 kW at the peak: import 200 kW, then 19 kW.
"""

from __future__ import annotations

import numpy as np
import pytest

from dispatch.model import DispatchConfig
from dispatch.optimize import solve_optimal
from dispatch.rolling import shape_key
from microgrid.errors import DataError
from tests.conftest import make_inputs, two_price_park


def plan(cap=None, minimum=None):
    inputs = make_inputs(two_price_park(), [100.0, 100.0])
    inputs.import_cap_kw = None if cap is None else np.array(cap, dtype=float)
    inputs.min_import_kw = None if minimum is None else np.array(minimum, dtype=float)
    inputs.__post_init__()
    return inputs, solve_optimal(inputs, DispatchConfig(mip_gap=0.0))


def test_without_limits_the_battery_shifts_valley_energy_to_the_peak() -> None:
    _, result = plan()
    assert result.schedule["grid_import_kw"].tolist() == pytest.approx([200.0, 19.0])
    assert not result.slack


def test_a_cap_the_park_can_keep_changes_nothing_it_already_does() -> None:
    _, result = plan(cap=[np.inf, 50.0])
    assert result.schedule["grid_import_kw"].tolist() == pytest.approx([200.0, 19.0])
    assert not result.slack


def test_a_cap_below_what_the_battery_can_cover_is_missed_by_the_exact_amount() -> None:
    # 10 kW at the peak would need 90 kW from the battery, i.e. 100 kWh stored: it holds at most 90 (81 out).
    _, result = plan(cap=[np.inf, 10.0])
    assert result.schedule["grid_import_kw"].tolist() == pytest.approx([200.0, 19.0])
    (entry,) = result.slack
    assert entry.constraint == "import_cap_kw (demand-response event)"
    assert entry.missing == pytest.approx(9.0) and len(entry.steps) == 1
    assert result.kpis["unserved_load_kwh"] == 0.0     # the event is missed before any load is shed


def test_a_cap_in_the_valley_limits_what_the_battery_can_store() -> None:
    # 150 kW in the valley with 100 kW of load: 50 kW of charging, 45 kWh stored, 40.5 kW out at the peak.
    _, result = plan(cap=[150.0, np.inf])
    imports = result.schedule["grid_import_kw"].to_numpy()
    assert imports[0] == pytest.approx(150.0)
    assert imports[1] == pytest.approx(100.0 - 50.0 * 0.81)
    assert not result.slack


def test_a_minimum_above_what_the_park_can_consume_is_missed_by_the_exact_amount() -> None:
    # At most 100 kW of load plus 100 kW of charging can be drawn in the valley: 250 asked, 50 missed.
    _, result = plan(minimum=[250.0, 0.0])
    assert result.schedule["grid_import_kw"].iloc[0] == pytest.approx(200.0)
    (entry,) = result.slack
    assert entry.constraint == "min_import_kw (demand-response event)" and entry.missing == pytest.approx(50.0)


def test_limits_change_the_model_shape_and_are_checked() -> None:
    plain = make_inputs(two_price_park(), [100.0, 100.0])
    limited, _ = plan(cap=[np.inf, 50.0])
    assert shape_key(plain, False) != shape_key(limited, False)
    with pytest.raises(DataError, match="import_cap_kw"):
        limited.import_cap_kw = np.array([1.0])
        limited.__post_init__()
