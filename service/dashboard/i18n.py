"""The dashboard's labels in English and Simplified Chinese, and the choice of language.

Every label a page shows goes through :func:`translate` with a key of the
``dashboard`` message catalog (``service/locale/<locale>/LC_MESSAGES/dashboard.po``,
read by :mod:`service.i18n`); a missing key is an error (a test checks that
every key a template uses is in the catalog, in both languages). Problem
messages go through :func:`service.i18n.localize`. The language comes
from the ``mg_lang`` cookie (the switch on the page) or else the browser's
``Accept-Language`` (RFC 9110 quality values); English when neither names
one of :data:`LANGUAGES`.
"""

from __future__ import annotations

from collections.abc import Callable

from service.i18n import DEFAULT_LANGUAGE, LANGUAGES, label

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LANG_COOKIE", "choose", "negotiate", "translate", "translator"]

LANG_COOKIE = "mg_lang"


def translate(key: str, lang: str, **fields) -> str:
    """The label ``key`` in ``lang``, its ``{name}`` fields filled from ``fields``.

    Raises
    ------
    KeyError
        ``key`` is not in the ``dashboard`` catalog (a programming error, caught by the tests).
    """
    return label(key, lang, **fields)


def translator(lang: str) -> Callable[..., str]:
    """``translate`` bound to ``lang``, for the templates (``t("key")``)."""
    return lambda key, **fields: translate(key, lang, **fields)


def negotiate(accept_language: str | None) -> str:
    """The language of :data:`LANGUAGES` that an ``Accept-Language`` header prefers; English by default.

    Any ``zh`` tag but the traditional ones (``zh-TW``, ``zh-HK``, ``zh-Hant``) counts as
    Simplified Chinese; ``en-*`` as English; the highest quality wins, the first on a tie.

    Examples
    --------
    >>> negotiate("zh-CN,zh;q=0.9,en;q=0.8")
    'zh-CN'
    >>> negotiate("de-DE,de;q=0.9,en;q=0.5,zh;q=0.4")
    'en'
    >>> negotiate("fr")
    'en'
    """
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag.startswith("zh") and not any(tag.startswith(t) for t in ("zh-tw", "zh-hk", "zh-mo", "zh-hant")):
            lang = "zh-CN"
        elif tag == "en" or tag.startswith("en-"):
            lang = "en"
        else:
            continue
        if q > best_q and q > 0:
            best, best_q = lang, q
    return best


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the switch's cookie if it names one of :data:`LANGUAGES`, else the header's."""
    return cookie if cookie in LANGUAGES else negotiate(accept_language)
