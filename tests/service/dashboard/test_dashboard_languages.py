"""Every message the dashboard shows in both languages: the catalogs, and the service's problems in Chinese."""

from __future__ import annotations

import html
import pickle
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from pydantic import BaseModel, Field, ValidationError

from microgrid.errors import DataError
from microgrid.messages import Message
from service import i18n
from tests.service.dashboard.test_dashboard import EVENT_FORM, parks, sign_in, web  # noqa: F401 (fixtures)

ROOT = Path(__file__).parents[3]
PACKAGES = ("microgrid", "forecasting", "dispatch", "service")
HAN = re.compile(r"[\u4e00-\u9fff]")


def extracted_ids() -> set[str]:
    """The ids ``make messages`` extracts: every ``Message(...)`` and ``N_(...)`` text of the packages."""
    ids = set()
    for package in PACKAGES:
        for _, _, message, _, _ in extract_from_dir(ROOT / package, [("**.py", "python")],
                                                    keywords={"Message": None, "N_": None}):
            ids.add(message)
    return ids


def zh_catalog() -> dict[str, str]:
    with (i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


# --------------------------------------------------------------------------- the catalogs


def test_every_message_of_the_code_has_a_chinese_translation_with_the_same_fields() -> None:
    ids, catalog = extracted_ids(), zh_catalog()
    assert len(ids) > 150  # the service's, the planner's and pydantic's messages
    assert ids - set(catalog) == set(), "run `make messages` and translate the new entries"
    for msgid in ids:
        translation = catalog[msgid]
        assert translation and HAN.search(translation) or msgid in {"{field}: {reason}", "(body): {reason}",
                                                                    "measured_at: {reason}",
                                                                    "park_yaml: {reason}"}, msgid
        assert i18n.fields_of(translation) == i18n.fields_of(msgid), msgid
        prefix = re.match(r"^([\w.{}\-]+(?:, [\w.]+)?): ", msgid)
        if prefix:  # the field a message names stays first, in ASCII, so that it is still placed by field
            assert translation.startswith(prefix.group(0)), msgid


def test_the_catalog_template_is_up_to_date() -> None:
    with (i18n.LOCALE_DIR / "messages.pot").open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    assert template == extracted_ids(), "run `make messages`"


def test_a_message_is_its_english_text_and_keeps_its_template_across_processes() -> None:
    message = Message("horizon_h: must be > 0 hours, got {horizon_h:g}", horizon_h=-2.0)
    assert message == "horizon_h: must be > 0 hours, got -2"
    error = pickle.loads(pickle.dumps(DataError(message)))  # as from the service's worker processes
    assert str(error) == message and error.args[0].template == message.template
    assert i18n.say(error.args[0], "zh-CN") == "horizon_h: 须大于 0 小时，实际为 -2"
    assert i18n.say(error.args[0], "en") == message


def test_values_that_are_messages_are_translated_too_and_unknown_text_stays_english() -> None:
    inner = Message("must be after start")
    outer = Message("{field}: {reason}", field="end", reason=inner)
    assert i18n.localize(outer, "zh-CN") == "end: 须晚于开始时间"
    assert i18n.localize("end: must be after start; x: no such thing", "zh-CN") == "end: 须晚于开始时间; x: no such thing"
    assert i18n.localize("something new", "zh-CN") == "something new"


def test_pydantics_messages_through_its_templates() -> None:
    class Form(BaseModel):
        amount_kw: float = Field(ge=0)
        when: str = Field(pattern=r"^\d{4}$")

    with pytest.raises(ValidationError) as raised:
        Form(amount_kw=-1, when="x")
    errors = {e["loc"][0]: e for e in raised.value.errors()}
    assert i18n.localize_pydantic(errors["amount_kw"], "zh-CN") == "应大于或等于 0"
    assert i18n.localize_pydantic(errors["when"], "zh-CN") == "字符串应符合模式 '^\\d{4}$'"
    assert i18n.localize_pydantic(errors["amount_kw"], "en") == "Input should be greater than or equal to 0"
    with pytest.raises(ValidationError) as raised:
        Form()
    assert {i18n.localize_pydantic(e, "zh-CN") for e in raised.value.errors()} == {"必填字段"}


# --------------------------------------------------------------------------- the dashboard in Chinese


def chinese(web) -> None:
    assert web.get("/lang/zh-CN").status_code in (302, 303, 307)


def problem_text(page: str) -> str:
    found = re.search(r'class="problem"[^>]*>([^<]*)<', page)
    assert found, page[:2000]
    return html.unescape(found.group(1))


def test_a_replan_without_a_measurement_says_so_in_chinese(web, parks) -> None:  # noqa: F811
    sign_in(web, parks["a"])
    chinese(web)
    response = web.post("/today/replan?park=a", data={"date": "2026-07-15"})
    text = problem_text(web.get(response.headers["location"]).text)
    assert "园区 'a' 目前没有可作起点的量测" in text and "has no measurement" not in text


def test_a_plan_outside_the_parks_data_says_so_in_chinese(web, parks) -> None:  # noqa: F811
    sign_in(web, parks["a"])
    chinese(web)
    response = web.post("/compare/plan?park=a", data={"date": "2031-01-01", "strategy": "rule-based"})
    text = problem_text(web.get(response.headers["location"]).text)
    assert text.startswith("data.loads (loads.csv): 时段 2031-01-01T00:00:00+08:00") and "超出数据范围" in text
    assert "pick" not in text


def test_the_event_forms_reasons_are_in_chinese(web, parks) -> None:  # noqa: F811
    sign_in(web, parks["a"])
    chinese(web)
    cases = [({"amount": "-5", "amount_kind": "max_import_kw"}, "amount", "应大于或等于 0"),
             ({"end": "2026-07-15T11:00"}, "end", "须晚于开始时间"),
             ({"amount_kind": "increase_by_kw"}, "amount", "削峰事件需要 max_import_kw 或 reduce_by_kw"),
             ({"notified_at": "2026-07-15T14:00"}, "notified_at", "须早于时段结束时间"),
             ({"start": "2026-07-15T12:07"}, "start", "不在园区 15 分钟的时段网格上"),
             ({"event_id": "no spaces"}, "event_id", "请使用 1-64 个字母、数字")]
    for change, field, reason in cases:
        response = web.post("/events?park=a", data={**EVENT_FORM, **change})
        assert response.status_code == 422, change
        errors = {k: html.unescape(v) for k, v in re.findall(r'data-error-for="(\w+)">([^<]*)<', response.text)}
        assert field in errors and reason in errors[field], (change, errors)
        assert not re.search(r"[A-Za-z]{4,} [a-z]{3,} [a-z]{3,}", errors[field]), errors[field]  # no English sentence


def test_the_study_forms_reasons_are_in_chinese(web, parks) -> None:  # noqa: F811
    sign_in(web, parks["a"])
    chinese(web)
    form = {"kind": "study", "start": "2026-07-15", "end": "2026-07-14", "strategies": ["no-control"], "replan_h": "5"}
    response = web.post("/studies?park=a", data=form)
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert "早于开始日期" in page or "不能整除一天" in page, page[:3000]
    assert "is before start" not in page and "does not divide a day" not in page
