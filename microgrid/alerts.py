"""The ``alerts:`` section of a park: which operator alerts the service raises, their thresholds and responses.

Every rule has ``enabled`` (default true) and ``replan`` (default false: when
true, an alert of the rule that opens makes the service re-plan the park
intraday from its latest measurement). The thresholds and their defaults:

=====================  ==========================================================================
rule                   raised when
=====================  ==========================================================================
``import_limit``       the measured import reaches ``(1 - margin_frac)`` of ``grid.max_import_kw``
                       (subject ``contract_limit``) or of the month-to-date peak (subject
                       ``month_peak``: the demand charge is at risk); default ``margin_frac`` 0.05
``demand_response``    during an active event the measured import, or the planned import of a
                       step still to come, misses the committed limit by more than
                       ``tolerance_kw`` (default 10 kW); subject: the event's id
``soc_band``           a battery's (or thermal store's) measured content is more than
                       ``tolerance_frac`` of its capacity (default 0.05) from the plan's at that time
``stale_measurements`` no measurement for ``max_age_min`` minutes (default 15)
``renewables``         measured PV (wind) over the plan's available PV (wind) is below ``min_ratio``
                       (default 0.7) while the plan expected at least ``min_expected_frac``
                       (default 0.2) of the arrays' AC rating (the turbines' nameplate)
``network_limits``     the latest plan's AC check comes within ``voltage_margin_pu`` (default
                       0.01 pu) of a voltage limit or ``loading_margin_pct`` (default 5 %) of a
                       line's or transformer's loading limit
=====================  ==========================================================================

``adherence_tolerance_frac`` (default 0.02): a step's measured import is
"within tolerance" of the plan when it deviates by at most this share of
``grid.max_import_kw``.
"""

from __future__ import annotations

from pydantic import Field

from microgrid.base import StrictModel


class AlertRule(StrictModel):
    """What every rule has: whether it is evaluated, and whether an alert of it re-plans the park."""

    enabled: bool = True
    replan: bool = Field(default=False, description="re-plan intraday from the latest measurement when an alert opens")


class ImportLimitRule(AlertRule):
    margin_frac: float = Field(default=0.05, ge=0, lt=1,
                               description="alert at (1 - margin_frac) of the contract limit or month-to-date peak")


class DemandResponseRule(AlertRule):
    tolerance_kw: float = Field(default=10.0, ge=0, description="shortfall of the committed response tolerated [kW]")


class SocBandRule(AlertRule):
    tolerance_frac: float = Field(default=0.05, gt=0, le=1,
                                  description="band around the planned content, as a share of the capacity")


class StaleMeasurementsRule(AlertRule):
    max_age_min: float = Field(default=15.0, gt=0, description="alert when the newest measurement is older [min]")


class RenewablesRule(AlertRule):
    min_ratio: float = Field(default=0.7, gt=0, le=1,
                             description="lowest measured/planned available PV (wind) tolerated")
    min_expected_frac: float = Field(default=0.2, ge=0, le=1,
                                     description="judged only while the plan expects this share of the AC rating")


class NetworkLimitsRule(AlertRule):
    voltage_margin_pu: float = Field(default=0.01, ge=0, description="closeness to a voltage limit alerted [pu]")
    loading_margin_pct: float = Field(default=5.0, ge=0, description="closeness to a loading limit alerted [%]")


class AlertSettings(StrictModel):
    """The park's alert rules (see the module's table)."""

    import_limit: ImportLimitRule = Field(default_factory=ImportLimitRule)
    demand_response: DemandResponseRule = Field(default_factory=DemandResponseRule)
    soc_band: SocBandRule = Field(default_factory=SocBandRule)
    stale_measurements: StaleMeasurementsRule = Field(default_factory=StaleMeasurementsRule)
    renewables: RenewablesRule = Field(default_factory=RenewablesRule)
    network_limits: NetworkLimitsRule = Field(default_factory=NetworkLimitsRule)
    adherence_tolerance_frac: float = Field(default=0.02, gt=0, le=1,
                                            description="import deviation counted as within the plan, as a share "
                                                        "of grid.max_import_kw")

    def rule(self, name: str) -> AlertRule:
        return getattr(self, name)


ALERT_RULES: tuple[str, ...] = ("import_limit", "demand_response", "soc_band", "stale_measurements", "renewables",
                                "network_limits")
"""The rules, in the order they are evaluated."""
