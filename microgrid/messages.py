"""Messages that can be shown in another language: the English text, and its template and values.

An error a user can cause says what is wrong in English (the CLI, the logs
and the API speak English). The dashboard shows it in the reader's language:
it looks the English template up in a message catalog (gettext, through
Babel; see :mod:`service.i18n`) and fills the translation with the same
values. For that, a raise site writes

>>> from microgrid.messages import Message
>>> m = Message("date: {day} is outside the data ({first} to {last})",
...             day="2027-01-01", first="2026-01-01", last="2026-12-31")
>>> m
'date: 2027-01-01 is outside the data (2026-01-01 to 2026-12-31)'
>>> m.template
'date: {day} is outside the data ({first} to {last})'

instead of an f-string: a :class:`Message` *is* the English text (a ``str``),
so nothing that reads the message changes. The template is the catalog's
``msgid`` (``make messages`` extracts every ``Message(...)`` and
:func:`N_` call into the catalog template); values that are themselves
messages are translated too.

:func:`N_` marks a constant text for extraction where it is used later
(a reason in a list, a label). It returns the text unchanged.
"""

from __future__ import annotations

from typing import Any


class Message(str):
    """English text made from ``template`` and ``params`` (``str.format``), which keeps both.

    Parameters
    ----------
    template : str
        The English text with ``{name}`` (or ``{name:spec}``) fields: the
        catalog's message id. A literal string at the call, so that it can be
        extracted.
    **params
        The fields' values. A value that is a :class:`Message` is translated
        before it is put in.
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Message:
        text = template.format(**params) if params else template
        self = super().__new__(cls, text)
        self.template = template
        self.params = params
        return self

    def __reduce__(self):
        # Errors cross process boundaries (the service's worker pool): keep the template and values.
        return (_rebuild, (self.template, self.params))


def _rebuild(template: str, params: dict[str, Any]) -> Message:
    return Message(template, **params)


def N_(text: str) -> str:
    """Mark ``text`` for the message catalog; returns it unchanged (gettext's ``N_``)."""
    return text
