"""The service's languages: gettext catalogs read with Babel, the dashboard's labels and the problem messages.

Two catalog domains live under ``service/locale/<locale>/LC_MESSAGES/``:

``dashboard.po``
    The dashboard's labels, one per key (``msgid`` = the key a template
    uses, e.g. ``nav_today``), in English (``en``) and Simplified Chinese
    (``zh_CN``). A missing key is an error (:func:`label` raises), so a
    template never shows a key.
``messages.po``
    The problem messages of the service and the planner, by their English
    template (``msgid`` = the template of a :class:`~microgrid.messages.Message`,
    or a text marked with :func:`~microgrid.messages.N_`), in Chinese only:
    English is the template itself. ``make messages`` extracts the ids from
    the code into ``service/locale/messages.pot`` and merges them into the
    catalog; a test checks that every id has a translation with the same
    ``{fields}``.

The catalogs are compiled in memory the first time a language is used
(:class:`babel.support.Translations`, i.e. :class:`gettext.GNUTranslations`);
the ``.po`` files are the only copy in the repository. A message that has
no Chinese yet is shown in English rather than not at all.
"""

from __future__ import annotations

import functools
import io
import re
import string
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from microgrid.messages import Message, N_, Reason

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "zh-CN")
"""The languages of the dashboard, as BCP 47 tags (the ``lang`` of its pages)."""
DEFAULT_LANGUAGE = "en"
LOCALES = {"en": "en", "zh-CN": "zh_CN"}
"""Language tag → the catalog's locale directory."""


@functools.cache
def catalog(domain: str, lang: str) -> NullTranslations:
    """The compiled catalog of ``domain`` in ``lang`` (a :class:`NullTranslations` when there is none)."""
    path = LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as f:
        po = read_po(f, locale=LOCALES[lang], domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, po, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=domain)


# --------------------------------------------------------------------------- the dashboard's labels


@functools.cache
def labels(lang: str) -> dict[str, str]:
    """Every dashboard label in ``lang``: key → text (with its ``{fields}`` unfilled)."""
    translations = catalog("dashboard", lang)
    return {key: text for key, text in getattr(translations, "_catalog", {}).items() if isinstance(key, str) and key}


def label(key: str, lang: str, **fields: Any) -> str:
    """The dashboard label ``key`` in ``lang``, its ``{name}`` fields filled from ``fields``.

    Raises
    ------
    KeyError
        ``key`` is not in the ``dashboard`` catalog of ``lang`` (a programming
        error, caught by the tests).
    """
    text = labels(lang)[key]
    return text.format(**fields) if fields else text


# --------------------------------------------------------------------------- problem messages


def gettext(text: str, lang: str) -> str:
    """``text`` (an English message id) in ``lang``; ``text`` itself without a translation."""
    if lang == DEFAULT_LANGUAGE:
        return text
    return catalog("messages", lang).gettext(text)


def fields_of(template: str) -> set[str]:
    """The names of the ``{fields}`` of a ``str.format`` template."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def say(message: str, lang: str) -> str:
    """``message`` in ``lang``: a :class:`Message` through its template's translation, other text as it is.

    A value of the message that is a message itself is translated too. A
    translation that does not fit the values (a broken catalog entry) gives
    the English text, never an error.
    """
    if lang == DEFAULT_LANGUAGE:
        return str(message)
    if not isinstance(message, Message):
        return gettext(str(message), lang)
    if isinstance(message, Reason):
        whole, prefix = say(message.message, lang), f"{message.field}: "
        return whole[len(prefix):] if whole.startswith(prefix) else whole
    translated = gettext(message.template, lang)  # the template itself without a translation
    params = {name: say(value, lang) if isinstance(value, str) else value for name, value in message.params.items()}
    try:
        return translated.format(**params) if params else translated
    except (KeyError, IndexError, ValueError):
        return str(message)


_SPLIT = re.compile(r"; (?=[A-Za-z_][\w.\[\]-]*: )")


def localize(text: str, lang: str) -> str:
    """A problem's text in ``lang``: a :class:`Message` as :func:`say`; joined plain text part by part.

    Details that join several ``field: reason`` messages with ``"; "`` lose
    the messages' templates; each part is then translated on its own if it
    is a catalog id (a constant reason).
    """
    if lang == DEFAULT_LANGUAGE or isinstance(text, Message):
        return say(text, lang)
    return "; ".join(_localize_part(part, lang) for part in _SPLIT.split(str(text)))


def _localize_part(part: str, lang: str) -> str:
    translated = gettext(part, lang)
    if translated != part:
        return translated
    field, sep, reason = part.partition(": ")
    return f"{field}: {gettext(reason, lang)}" if sep else part


# --------------------------------------------------------------------------- pydantic's messages

PYDANTIC_TEMPLATES = (
    N_("Field required"),
    N_("Input should be a valid number, unable to parse string as a number"),
    N_("Input should be a valid number"),
    N_("Input should be a finite number"),
    N_("Input should be a valid integer, unable to parse string as an integer"),
    N_("Input should be a valid integer"),
    N_("Input should be a valid integer, got a number with a fractional part"),
    N_("Input should be a valid string"),
    N_("Input should be a valid boolean, unable to interpret input"),
    N_("Input should be a valid date or datetime, {error}"),
    N_("Input should be a valid datetime, {error}"),
    N_("Input should be a valid date, {error}"),
    N_("Input should be a valid list"),
    N_("Input should be a valid dictionary or instance of {class_name}"),
    N_("Input should be a valid dictionary"),
    N_("Input should be greater than {gt}"),
    N_("Input should be greater than or equal to {ge}"),
    N_("Input should be less than {lt}"),
    N_("Input should be less than or equal to {le}"),
    N_("Input should be {expected}"),
    N_("String should match pattern '{pattern}'"),
    N_("String should have at least {min_length} character"),
    N_("String should have at least {min_length} characters"),
    N_("String should have at most {max_length} character"),
    N_("String should have at most {max_length} characters"),
    N_("List should have at least {min_length} item after validation, not {actual_length}"),
    N_("List should have at least {min_length} items after validation, not {actual_length}"),
    N_("List should have at most {max_length} item after validation, not {actual_length}"),
    N_("List should have at most {max_length} items after validation, not {actual_length}"),
    N_("Extra inputs are not permitted"),
    N_("Input should be a valid date or datetime, input is too short"),
    N_("Value error, {error}"),
    N_("Timezone offset of {tz_expected} required"),
    N_("Input should have timezone info"),
    N_("input is too short"),
    N_("input is too long"),
    N_("invalid character in year"),
    N_("invalid character in month"),
    N_("invalid character in day"),
    N_("invalid character in hour"),
    N_("invalid date separator, expected `-`"),
    N_("month value is outside expected range of 1-12"),
    N_("day value is outside expected range"),
    N_("unexpected extra characters at the end of the input"),
    N_("invalid datetime separator, expected `T`, `t`, `_` or space"),
    N_("invalid timezone sign"),
)
"""The messages of pydantic's errors that the service's requests can cause (ids of the ``messages`` catalog).

They are pydantic-core's message templates: :func:`localize_pydantic` rebuilds
the template of an error from its ``type`` and ``ctx`` and translates that.
"""


def localize_pydantic(error: dict, lang: str) -> str:
    """The ``msg`` of a pydantic error (an item of ``ValidationError.errors()``) in ``lang``."""
    msg = error.get("msg", "invalid")
    if lang == DEFAULT_LANGUAGE:
        return msg
    ctx = dict(error.get("ctx") or {})
    if error.get("type") == "value_error" and "error" in ctx:
        inner = ctx["error"]
        return say(inner, lang) if isinstance(inner, Message) else localize(str(inner), lang)
    from pydantic_core import PydanticKnownError

    try:
        template = PydanticKnownError(error["type"], ctx or None).message_template
    except (KeyError, TypeError, ValueError):
        return msg
    translated = gettext(template, lang)
    if translated == template:
        return msg
    if "error" in ctx:
        ctx["error"] = gettext(str(ctx["error"]), lang)
    try:
        return translated.format(**{name: _as_pydantic_shows(value) for name, value in ctx.items()})
    except (KeyError, IndexError, ValueError):
        return msg


def _as_pydantic_shows(value: Any) -> Any:
    """A context value as pydantic-core writes it into its message: whole floats without ``.0``."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
