"""Fields as residents really write them, and what the bot shows it understood — in chat."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from bot.clock import VirtualClock
from bot.config import Config
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.models import Report, ReportEvent

B3, B5 = "江南新村3号楼", "江南新村5号楼"
STAFF = "居委工作群"


def texts(deliveries) -> list[str]:
    return [d.text for d in deliveries]


def reports(chat: Simulation) -> list[Report]:
    with chat.bot.services.factory() as session:
        return list(session.scalars(select(Report).order_by(Report.id)))


# ------------------------------------------------------------------ §3 origin and dates


def test_a_day_of_return_is_a_date_and_never_an_origin(chat: Simulation) -> None:
    for text in ("登记 3号楼201 明天回沪", "登记 3号楼202 今天刚回沪 2人", "登记 3号楼203 下周回沪"):
        reply = chat.say(B3, "孙师傅", text)[0].text
        assert "来自" not in reply, reply
    tomorrow, today, next_week = reports(chat)
    assert [r.origin for r in (tomorrow, today, next_week)] == [None, None, None]
    assert (str(tomorrow.event_date), str(today.event_date), str(next_week.event_date)) == (
        "2026-11-24",
        "2026-11-23",
        "2026-11-30",
    )
    assert {r.category for r in (tomorrow, today, next_week)} == {"return"}


def test_back_from_a_province_is_a_return_with_its_origin(chat: Simulation) -> None:
    reply = chat.say(B3, "孙师傅", "登记 3号楼201 从湖北回来 2人")[0].text
    assert reply.startswith("已登记 家庭报告 #1：3号楼201室｜返沪登记｜2人｜来自湖北")
    (report,) = reports(chat)
    assert (report.category, report.origin, report.people) == ("return", "湖北", 2)


# ------------------------------------------------------------------ §3 follow-up answers


def test_a_room_answered_in_words_completes_the_report(chat: Simulation) -> None:
    chat.say(B5, "孙师傅", "登记 新搬来租户 一家三口")
    done = chat.say(B5, "孙师傅", "三零二")
    assert done[0].text.startswith("已登记 家庭报告 #1：5号楼302室｜外来人员登记｜3人")
    chat.say(B5, "周老师", "求助 家里断粮了")
    sentence = chat.say(B5, "周老师", "我家是502")
    assert sentence[0].text.startswith("已登记 家庭报告 #2：5号楼502室｜生活求助")
    assert [(r.unit, r.status) for r in reports(chat)] == [("302", "open"), ("502", "open")]


def test_a_late_answer_is_told_the_report_was_kept_incomplete_and_how_to_send_it(chat: Simulation) -> None:
    chat.say(B5, "孙师傅", "登记 新搬来租户 一家三口")
    chat.wait(minutes=11)
    late = texts(chat.say(B5, "孙师傅", "302"))
    assert late == [
        "#1 的补充已超过10分钟，报告已按“信息不全”保存。请回复“更正 1 201”补上，或重新发送完整的报告。"
    ]
    (report,) = reports(chat)
    assert (report.status, report.unit) == ("incomplete", None)
    assert chat.say(B5, "孙师傅", "302") == []  # told once; after that a number is just a number
    fixed = chat.say(B5, "孙师傅", "更正 1 302室")
    assert fixed[0].text.startswith("已更正 #1：5号楼302室")
    assert reports(chat)[0].status == "open"


def test_a_late_answer_before_the_expiry_job_ran_is_answered_too(chat: Simulation) -> None:
    chat.say(B5, "孙师傅", "登记 新搬来租户")
    chat.clock.advance(timedelta(minutes=11))  # the clock moves on, no timed job has run yet
    late = texts(chat.say(B5, "孙师傅", "我家是302"))
    assert late and late[0].startswith("#1 的补充已超过10分钟")
    assert reports(chat)[0].status == "incomplete"


def test_the_minutes_in_the_question_come_from_config(
    config: Config, engine: Engine, clock: VirtualClock
) -> None:
    slow = config.model_copy(update={"intake": config.intake.model_copy(update={"followup_minutes": 30})})
    chat = Simulation(build_application(slow, engine, clock), clock)
    asked = texts(chat.say(B5, "孙师傅", "登记 新搬来租户"))
    assert asked == ["已收到 家庭报告 #1，请补充室号，例如 201（30分钟内回复即可）。"]
    chat.wait(minutes=20)
    assert chat.say(B5, "孙师傅", "302")[0].text.startswith("已登记 家庭报告 #1：5号楼302室")


# ------------------------------------------------------------------ §3 corrections


def test_correct_the_category_by_its_label_or_any_of_its_words(chat: Simulation) -> None:
    chat.say(B3, "孙师傅", "登记 3号楼201 返沪1人")
    by_label = chat.say(B3, "孙师傅", "更正 1 健康异常")
    assert by_label[0].text.startswith("已更正 #1：3号楼201室｜健康异常")
    by_word = chat.say(B3, "孙师傅", "更正 1 独居")
    assert by_word[0].text.startswith("已更正 #1：3号楼201室｜为老关怀")
    assert reports(chat)[0].category == "elderly"


def test_correct_the_kind(chat: Simulation) -> None:
    chat.say(B3, "郑老伯", "反映 3号楼门口有建筑垃圾")
    assert reports(chat)[0].kind == "building"
    chat.say(B3, "郑老伯", "更正 1 片区报告")
    report = reports(chat)[0]
    assert report.kind == "area"
    with chat.bot.services.factory() as session:
        event = session.scalars(select(ReportEvent).where(ReportEvent.action == "correct")).one()
    assert event.changes["kind"] == ["building", "area"]


# ------------------------------------------------------------------ §3 接龙 reposts


CHAIN = "#接龙 返沪登记\n1. 3号楼101 陈先生 1人 来自安徽\n2. 3号楼402 林女士 2人 从湖北回来"


def test_an_edited_chain_line_updates_its_report(chat: Simulation) -> None:
    chat.say(B3, "钱组长", CHAIN)
    edited = chat.say(
        B3, "林女士", "#接龙 返沪登记\n1. 3号楼101 陈先生 1人 来自安徽\n2. 3号楼402 林女士 3人 从湖北回来"
    )
    assert edited[0].text.startswith("接龙「返沪登记」更新 1 条；已登记过的 1 行未重复记录")
    assert "#2 3号楼402室｜返沪登记｜3人｜来自湖北（已更新）" in edited[0].text
    assert [(r.unit, r.people) for r in reports(chat)] == [("101", 1), ("402", 3)]
    summary = chat.say(STAFF, "王社工", "/汇总")[0].text
    assert "报告 2 条" in summary and "返沪登记人数：4 人" in summary


def test_a_repost_without_its_title_is_matched_by_its_lines(chat: Simulation) -> None:
    chat.say(B3, "钱组长", CHAIN)
    untitled = chat.say(
        B3,
        "冯阿姨",
        "#接龙\n1. 3号楼101 陈先生 1人 来自安徽\n2. 3号楼402 林女士 2人 从湖北回来\n3. 3号楼502 冯阿姨 3人",
    )
    assert untitled[0].text.startswith("已登记接龙 1 条；已登记过的 2 行未重复记录")
    assert [(r.unit, r.category) for r in reports(chat)] == [
        ("101", "return"),
        ("402", "return"),
        ("502", "return"),
    ]
    again = chat.say(B3, "钱组长", CHAIN + "\n3. 3号楼502 冯阿姨 3人")
    assert texts(again) == ["接龙「返沪登记」的 3 行都已登记过，无新增。"]
    summary = chat.say(STAFF, "王社工", "/汇总")[0].text
    assert "报告 3 条" in summary and "返沪登记人数：6 人" in summary


# ------------------------------------------------------------------ §4 gist


def test_confirmation_open_items_and_query_show_the_residents_own_words(chat: Simulation) -> None:
    confirmed = chat.say("江南新村48号楼", "郑老伯", "#楼组报告 48号楼门牌太不显眼")
    assert texts(confirmed)[0].startswith("已登记 楼组报告 #1：48号楼｜设施报修｜门牌太不显眼。")
    chat.say(B3, "孙师傅", "求助！家里断粮了 3号楼201 电话13812345678 张阿姨家也没了")
    pending = chat.say(STAFF, "王社工", "/待办")[0].text
    assert "48号楼｜设施报修｜门牌太不显眼｜待处理" in pending
    line = next(line for line in pending.splitlines() if line.startswith("#2"))
    assert "家里断粮了" in line and "13812345678" not in line and "张阿姨" not in line
    found = chat.say(STAFF, "王社工", "/查询 #1")[0].text
    assert "48号楼｜设施报修｜门牌太不显眼" in found
    fallen = chat.say(B3, "孙师傅", "求助 3号楼402 老人摔倒了")  # words, not a name beside 老人
    assert "｜老人摔倒了。" in fallen[0].text


# ------------------------------------------------------------------ §4 category words in staff commands


def test_query_and_summary_take_any_word_of_a_category(chat: Simulation) -> None:
    chat.say(B3, "孙师傅", "登记 3号楼201 返沪2人")
    chat.say(B3, "郑老伯", "报修 3号楼楼道灯坏了")
    for word in ("返沪", "回沪", "返沪登记", "return"):
        found = chat.say(STAFF, "王社工", f"/查询 {word}")[0].text
        assert found.startswith("查询结果（最新 1 条）") and "返沪登记" in found, word
    summary = chat.say(STAFF, "王社工", "/汇总 返沪")[0].text
    assert summary.startswith("全居民区·返沪登记 · 今天") and "报告 1 条" in summary
    scoped = chat.say(STAFF, "王社工", "/汇总 本周 3号楼 漏水")[0].text
    assert scoped.startswith("3号楼·设施报修 · 本周") and "报告 1 条" in scoped
