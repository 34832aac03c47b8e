"""A one-page picture of a schedule: power balance, state of charge, prices."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dispatch.results import DispatchResult  # noqa: E402

PERIOD_COLOURS = {"valley": "#d8ecd3", "flat": "#f4f4f4", "peak": "#fbe0c4", "critical_peak": "#f7c1c1"}


def plot_schedule(result: DispatchResult, path: Path) -> Path:
    """Draw the schedule to ``path`` (PNG) and return it."""
    index = result.schedule.index
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(hours=1)
    # Repeat the last row at the end of the last step so that step plots cover it.
    s = pd.concat([result.schedule, result.schedule.iloc[[-1]].set_axis([index[-1] + step])])
    x = s.index.tz_localize(None)
    fig, (ax_p, ax_soc, ax_price) = plt.subplots(
        3, 1, figsize=(11, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.3, 1.2]}
    )
    # Power balance: supply above zero, sinks other than load below zero.
    supply = [("pv_used_kw", "PV used", "#f2b701"), ("battery_discharge_kw", "battery discharge", "#3b75af"),
              ("grid_import_kw", "grid import", "#7f7f7f")]
    if "wind_used_kw" in s.columns:
        supply.insert(1, ("wind_used_kw", "wind used", "#2ca6a4"))
    sinks = [("battery_charge_kw", "battery charge", "#9ec5e8"), ("grid_export_kw", "grid export", "#6ab04c")]
    bottom = 0.0
    for column, label, colour in supply:
        ax_p.fill_between(x, bottom, bottom + s[column], step="post", color=colour, label=label, linewidth=0)
        bottom = bottom + s[column]
    bottom = 0.0
    for column, label, colour in sinks:
        ax_p.fill_between(x, bottom, bottom - s[column], step="post", color=colour, label=label, linewidth=0)
        bottom = bottom - s[column]
    ax_p.step(x, s["load_kw"], where="post", color="black", linewidth=1.2, label="load")
    ax_p.step(x, s["pv_available_kw"], where="post", color="#b8860b", linewidth=0.9, linestyle="--", label="PV available")
    if "wind_available_kw" in s.columns:
        ax_p.step(x, s["wind_available_kw"], where="post", color="#1f7a78", linewidth=0.9, linestyle=":",
                  label="wind available")
    ax_p.axhline(0, color="black", linewidth=0.5)
    ax_p.set_ylabel("power [kW]")
    ax_p.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=7, fontsize=8, frameon=False)
    k = result.kpis
    fig.suptitle(
        f"{k.get('case', '')} {k.get('date', '')} — {result.strategy}: total cost {k['total_cost_cny']:,.0f} CNY, "
        f"peak import {k['peak_import_kw']:,.0f} kW, PV self-consumption {k['pv_self_consumption_ratio']:.0%}"
        + (f", wind {k['wind_self_consumption_ratio']:.0%}" if "wind_self_consumption_ratio" in k else "") +
        f" ({result.status.value})",
        fontsize=10,
    )
    soc_columns = [c for c in s.columns if c.endswith(".soc_kwh") or c.endswith(".soc_th_kwh")]
    for column in soc_columns:
        heat = column.endswith(".soc_th_kwh")
        label = column.removesuffix(".soc_th_kwh") + " (heat)" if heat else column.removesuffix(".soc_kwh")
        ax_soc.step(x, s[column], where="post", label=label, linestyle="--" if heat else "-")
    ax_soc.set_ylabel("stored [kWh]")
    if soc_columns:
        ax_soc.legend(loc="upper left", fontsize=8)
    else:
        ax_soc.text(0.5, 0.5, "no battery", transform=ax_soc.transAxes, ha="center", va="center")
    ax_price.step(x, s["price_import_cny_per_kwh"], where="post", color="#c0392b", label="import price")
    ax_price.step(x, s["price_export_cny_per_kwh"], where="post", color="#27ae60", label="export price")
    if "tou_period" in s:
        for start, end, period in zip(x[:-1], x[1:], s["tou_period"].iloc[:-1]):
            ax_price.axvspan(start, end, color=PERIOD_COLOURS.get(period, "white"), linewidth=0, zorder=0)
    ax_price.set_ylabel("price [CNY/kWh]")
    ax_price.legend(loc="upper left", fontsize=8)
    ax_price.set_xlabel(f"local time ({index.tz})")
    ax_price.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    for ax in (ax_p, ax_soc, ax_price):
        ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
