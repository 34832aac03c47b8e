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
        extracted; literal braces are doubled, as in every ``str.format``
        template.
    **params
        The fields' values. A value that is a :class:`Message` is translated
        before it is put in.
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Message:
        text = template.format(**params)
        self = super().__new__(cls, text)
        self.template = template
        self.params = params
        return self

    def __reduce__(self):
        # Errors cross process boundaries (the service's worker pool): keep the template and values.
        return (_rebuild, (self.template, self.params))


def _rebuild(template: str, params: dict[str, Any]) -> Message:
    return Message(template, **params)


class Reason(Message):
    """The reason of a ``field: reason`` message: the text after ``field: ``, translated as the whole message.

    A problem lists its errors as (field, reason) pairs; the reason of a
    message that names its field first is the rest of the text. Its
    translation is the whole message's, without the field (which stays
    first, in ASCII, in every language).

    >>> m = Message("end: {end} is before start {start}", end="2026-07-14", start="2026-07-15")
    >>> Reason(m, "end")
    '2026-07-14 is before start 2026-07-15'
    """

    field: str

    def __new__(cls, message: Message, field: str) -> Reason:
        prefix = f"{field}: "
        text = str(message)
        self = str.__new__(cls, text[len(prefix):] if text.startswith(prefix) else text)
        self.template, self.params, self.field = message.template, message.params, field
        return self

    @property
    def message(self) -> Message:
        """The whole message, field first."""
        return Message(self.template, **self.params)

    def __reduce__(self):
        return (Reason, (self.message, self.field))


def N_(text: str) -> str:
    """Mark ``text`` for the message catalog; returns it unchanged (gettext's ``N_``)."""
    return text
