"""Notifications: a park's events, published once, sent to its live streams and its webhooks.

:func:`publish` (``park_id``, ``kind``, ``payload``) stores an event of one
of the :data:`KINDS` (``plan.created``, ``alert.opened``,
``alert.acknowledged``, ``alert.resolved``); pass the caller's ``session``
to send it only when that transaction commits. Every stored plan publishes
``plan.created`` (:func:`plan_created`); alerts publish theirs from
``service.api.alerts.on_alert_change`` with ``session=``.

* :mod:`~service.api.notify.kinds`: the kinds, the event's shape, webhook filters;
* :mod:`~service.api.notify.hub`: :func:`publish` and the :class:`Hub` that fans
  committed events out on the event loop;
* :mod:`~service.api.notify.webhooks`: signing, retries with back-off and the
  :class:`DeliveryWorker` (started by the application's lifespan);
* :mod:`~service.api.notify.stream`: the server-sent events of
  ``GET /parks/{id}/stream``.
"""

from service.api.notify.hub import Hub, plan_created, publish
from service.api.notify.kinds import KINDS, event_body
from service.api.notify.webhooks import DeliveryWorker, signature

__all__ = ["KINDS", "DeliveryWorker", "Hub", "event_body", "plan_created", "publish", "signature"]
