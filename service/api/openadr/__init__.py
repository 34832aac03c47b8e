"""OpenADR 2.0b: a park acting as a VEN (virtual end node) of a VTN, with openleadr.

A park whose VEN is configured and enabled (``PUT /parks/{id}/openadr``)
registers with its VTN, polls it, and

* turns each event it receives into demand-response events of the park
  through the same path as ``PUT /parks/{id}/events/{event_id}``
  (:func:`service.api.routes.events.apply_event`): :func:`map_event` reads
  the ``LOAD_DISPATCH`` signal (``setpoint`` → ``max_import_kw``; ``delta``
  → ``reduce_by_kw`` or ``increase_by_kw``, by its sign and the park's
  ``positive_delta``) or, when the park maps levels to kW, a ``SIMPLE``
  level; the power is converted from the signal's ``itemUnits`` and
  ``siScaleCode`` (kW without an ``itemBase``). Consecutive intervals with the
  same request make one window; windows are widened to the park's step grid.
* opts in when the re-plan delivers the event ``full`` or ``partial``, and out
  when it delivers ``none``, when planning fails or when the event cannot be
  mapped (the reason is logged and kept, see ``GET /parks/{id}/openadr``). An
  event the park opted out of does not bind its plans: the demand-response
  events it became are cancelled. A modified event (a new modification number)
  re-plans; a cancelled one cancels its demand-response events.
* offers a ``TELEMETRY_USAGE`` report of its metered demand on the grid
  (``powerReal``, kW), the net import of the newest measurement
  (:func:`service.api.measurements.metered_demand_kw`), stamped with the time it
  was metered; each measurement is reported once, and without a new one a
  report interval passes without a report: no value is made up.

The VEN clients run on the service's event loop (:class:`VenManager`, started
and stopped by the application's lifespan and by the configuration routes);
re-plans and database work run in threads, so the service keeps answering.
A VTN that cannot be reached or refuses the registration is retried with a
growing delay (:data:`~service.api.openadr.ven.RETRY_MIN_S` to
:data:`~service.api.openadr.ven.RETRY_MAX_S`).

The package's modules:

* :mod:`~service.api.openadr.mapping`: what an OpenADR event asks of the
  park, as demand-response events (pure functions);
* :mod:`~service.api.openadr.answers`: answering one event (re-plans, the
  opt, its record) and the demand the reports offer, in a thread;
* :mod:`~service.api.openadr.ven`: the VEN clients on the event loop
  (openleadr, TLS, registration, polling, reports) and their manager.
"""

from service.api.openadr.answers import Answer, answer_event, new_demand, recent_events, step_grid
from service.api.openadr.mapping import Mapping, StepGrid, map_event, power_factor_kw, service_event_id
from service.api.openadr.ven import ParkVen, VenManager, VenStatus

__all__ = ["Answer", "Mapping", "ParkVen", "StepGrid", "VenManager", "VenStatus", "answer_event", "map_event",
           "new_demand", "power_factor_kw", "recent_events", "service_event_id", "step_grid"]
