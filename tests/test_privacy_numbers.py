"""No phone or ID-card number reaches a group whole, however it was typed, in any text that staff
or party members write for the groups: notices, urgent and scheduled notices, the 24 h reminders
that quote them, and /办结 notes (which also lose residents' names and room numbers). The staff
room is exempt, as the design says. And the same pattern reads the phone into the record."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import select

from bot.parsing.fields import extract
from bot.phones import mask
from bot.transports.simulated import Simulation
from storage.models import Report
from tests.conftest import MORNING

STAFF = "居委工作群"
B3 = "江南新村3号楼"
PARTY = "第2党支部"
PHONE = "13812345678"
ID_CARD = "31010119900307123X"

PHONE_FORMS = [
    "13812345678",
    "+8613812345678",
    "008613812345678",
    "+86 138 1234 5678",
    "１３８１２３４５６７８",
    "138.1234.5678",
    "(138)1234-5678",
    "（138）1234－5678",
    "138-1234-5678",
    "138  1234  5678",
    "138\n1234\n5678",
    "138\t1234\t5678",
    "138\u00a01234\u00a05678",
    "١٣٨١٢٣٤٥٦٧٨",
    "۱۳۸۱۲۳۴۵۶۷۸",
]
ID_FORMS = [
    "31010119900307123X",
    "31010119900307123x",
    "310101 19900307 123X",
    "３１０１０１１９９００３０７１２３Ｘ",
]


def whole_numbers_in(text: str) -> list[str]:
    """The planted numbers still readable in ``text``, whatever separators are left between digits."""
    digits = "".join(
        str(unicodedata.decimal(c)) if unicodedata.decimal(c, None) is not None else c.upper()
        for c in text
        if unicodedata.decimal(c, None) is not None or c in "xXｘＸ"
    )
    return [number for number in (PHONE, ID_CARD) if number in digits]


@pytest.mark.parametrize("form", PHONE_FORMS + ID_FORMS)
def test_mask_hides_every_form(form: str) -> None:
    assert whole_numbers_in(mask(f"有事请联系 {form} 谢谢")) == []


@pytest.mark.parametrize("form", [f for f in PHONE_FORMS if "\n" not in f])
def test_the_record_reads_every_form_as_the_same_phone_and_never_as_a_room(form: str) -> None:
    fields = extract(unicodedata.normalize("NFKC", f"3号楼 电话 {form} 返沪2人"), MORNING)
    assert (fields.phone, fields.unit, fields.building) == (PHONE, None, "3")


def test_a_phone_typed_with_spaces_is_not_room_138(chat: Simulation) -> None:
    chat.say(B3, "孙师傅", "登记 返沪1人 电话 138 1234 5678")
    with chat.bot.services.factory() as session:
        report = session.scalars(select(Report)).one()
    assert (report.phone, report.unit, report.status) == (PHONE, None, "pending")


def test_lists_of_buildings_are_not_phones() -> None:
    assert mask("13 14 15 16 17 18号楼 明天停水") == "13 14 15 16 17 18号楼 明天停水"
    assert mask("时间 2026-11-23 13:00-15:00") == "时间 2026-11-23 13:00-15:00"


def test_no_group_ever_sees_a_whole_number_in_what_staff_and_party_write(chat: Simulation) -> None:
    for topic in [STAFF, B3, PARTY]:
        chat.say(topic, "某居民", "大家好")
    forms = PHONE_FORMS + ID_FORMS
    for n, form in enumerate(forms):
        chat.say(STAFF, "王社工", f"#通知 3号楼 停水，有事联系 {form}")
        chat.say(PARTY, "赵党员", f"#紧急通知 3号楼 燃气检修，联系 {form}")
        chat.say(STAFF, "王社工", f"#定时通知 明天 8:00 3号楼 疫苗接种，咨询 {form}")
        chat.say(B3, "孙师傅", f"报修 3号楼20{n % 9 + 1} 楼道灯坏了")
    with chat.bot.services.factory() as session:
        numbers = list(session.scalars(select(Report.id).order_by(Report.id)))
    for number, form in zip(numbers, forms):
        chat.say(STAFF, "王社工", f"/办结 {number} 已请住户王小明和李先生配合，电工电话 {form}，3号楼201室")
    chat.wait(hours=30)  # the scheduled notices go out; the 24 h reminders quote the notices
    groups = [d for d in chat.delivered if d.room_id is not None and d.room_topic != STAFF and d.text]
    assert sum("停水" in d.text for d in groups) >= len(forms)
    assert sum("疫苗接种" in d.text for d in groups) >= len(forms)
    assert sum("燃气检修" in d.text for d in groups) >= len(forms)
    assert sum("已处理" in d.text for d in groups) == len(forms)
    assert any(d.text.startswith("【提醒】") for d in groups)
    leaks = [d.text for d in groups if whole_numbers_in(d.text)]
    assert leaks == []
    notes = [d.text for d in groups if "已处理" in d.text]
    assert not [t for t in notes if "王小明" in t or "李先生" in t or "201" in t]
