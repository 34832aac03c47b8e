"""Checks before solving: what is plainly impossible is refused with the device and field named.

Everything else that cannot be met is left to the model's priced slack and
reported after the solve (``DispatchResult.slack``).
"""

from __future__ import annotations

import numpy as np

from dispatch.inputs import DispatchInputs
from microgrid.errors import InfeasibleError
from microgrid.messages import Message


def check_heat_capacity(inputs: DispatchInputs) -> None:
    """Heat demand of every heat bus within all the heat its devices could deliver at that step.

    Capacity at a step: Σ heat pumps ``COP × max_elec_kw`` + Σ boilers
    ``efficiency × max_elec_kw`` + Σ stores ``max_discharge_kw``.
    """
    park = inputs.park
    for bus_id in park.heat_buses:
        capacity = np.zeros(inputs.n_steps)
        for h, hp in park.heat_pumps.items():
            if hp.heat_bus == bus_id:
                capacity += inputs.cop(h) * hp.max_elec_kw
        for boiler in park.electric_boilers.values():
            if boiler.heat_bus == bus_id:
                capacity += boiler.efficiency * boiler.max_elec_kw
        for store in park.thermal_stores.values():
            if store.heat_bus == bus_id:
                capacity += store.max_discharge_kw
        demand = inputs.heat_demand_kw[bus_id].to_numpy()
        over = demand > capacity + 1e-6
        if over.any():
            t = int(np.argmax(demand - capacity))
            raise InfeasibleError(
                Message("heat_buses.{bus_id}: heat demand {demand:,.0f} kW at {at} exceeds all heat capacity "
                        "on the bus ({capacity:,.0f} kW from heat pumps, boilers and stores) at {steps} step(s); "
                        "add heat capacity or lower the demand_profile",
                        bus_id=bus_id, demand=demand[t], at=inputs.index[t].isoformat(), capacity=capacity[t],
                        steps=int(over.sum()))
            )


def check_inputs(inputs: DispatchInputs) -> None:
    """Every check that runs before a plan is made."""
    check_heat_capacity(inputs)
