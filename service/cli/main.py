"""The ``microgrid`` command line: the root command and its groups, one module each.

============  ==========================================  =========================
command       what                                        module
============  ==========================================  =========================
schedule      plan one day of a case                      :mod:`.schedule`
network       AC power flow of a schedule                 :mod:`.network`
forecast      PV, wind and load forecasts, accuracy       :mod:`.forecast`
study, sweep  rolling-horizon studies and sweeps          :mod:`.study`
size          sizes of new assets on typical days         :mod:`.size`
carbon        carbon metering of a month                  :mod:`.carbon`
service       the HTTP service and its keys               :mod:`.serve`
============  ==========================================  =========================

No command module imports another; what they share is :mod:`.common`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from service.cli.carbon import carbon_app
from service.cli.common import configure
from service.cli.forecast import forecast_app
from service.cli.network import network_app
from service.cli.schedule import schedule_app
from service.cli.serve import service_app
from service.cli.size import size_app
from service.cli.study import study_app

app = typer.Typer(
    name="microgrid",
    help="Dispatch optimizer for industrial-park microgrids (PV, batteries, TOU tariffs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,   # help texts keep their units in brackets, e.g. [kW]
)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Plan industrial-park microgrids."""
    configure(debug, verbose)


app.add_typer(schedule_app)
app.add_typer(network_app, name="network")
app.add_typer(forecast_app, name="forecast")
app.add_typer(study_app)
app.add_typer(size_app)
app.add_typer(carbon_app)
app.add_typer(service_app, name="service")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
