"""The daily digest, incident linking with feedback to every reporter, and the chart image."""

from __future__ import annotations

import itertools
import warnings
from datetime import datetime

from bot.clock import SHANGHAI
from bot.transports.simulated import Simulation

STAFF = "居委工作群"


def test_same_problem_from_several_residents_is_one_incident(chat: Simulation) -> None:
    chat.say(STAFF, "王社工", "早")
    chat.say("江南新村3号楼", "郑老伯", "报修 3号楼楼道灯坏了")
    second = chat.say("江南新村3号楼", "冯阿姨", "报修 3号楼楼道灯不亮了，晚上看不见")[0].text
    assert second.endswith("（已有 2 位居民反映同一问题，将一并处理）")
    other = chat.say("江南新村3号楼", "孙师傅", "报修 3号楼电梯坏了")[0].text  # same category, other words
    assert "同一问题" not in other
    family = chat.say("江南新村3号楼", "张阿姨", "报修 家里水管漏水 201室")[0].text
    assert "同一问题" not in family
    chat.say("江南新村3号楼", "钱组长", "报修 3号楼 👍")
    bare = chat.say("江南新村3号楼", "孙师傅", "报修 3号楼")[0].text  # no words to compare: not a guess
    assert "同一问题" not in bare
    replies = chat.say(STAFF, "王社工", "/办结 1 已换新灯泡")
    assert replies[0].text == "已办结 #1（同一问题的 2 条报告一并办结），已告知报告人。"
    told = sorted(d.text for d in replies if d.room_topic == "江南新村3号楼")
    assert told == [
        "@冯阿姨 您反映的#2（设施报修）已处理：已换新灯泡",
        "@郑老伯 您反映的#1（设施报修）已处理：已换新灯泡",
    ]


def test_chart_is_a_png_with_cjk_text(chat: Simulation) -> None:
    chat.say("江南新村3号楼", "郑老伯", "报修 3号楼楼道灯坏了")
    chat.say("江南新村5号楼", "孙师傅", "登记 5号楼302 返沪2人")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn: the CJK font must be used
        replies = chat.say(STAFF, "王社工", "/图表 本月")
    # WeChat sends a file without words: the caption is its own line, just before the picture
    assert replies[0].text == "报告分布图（2026年11月，11-01至11-30）：" and not replies[0].file_path
    image = replies[1].file_path
    assert image and image.endswith(".png")
    with open(image, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 3 * 1024 * 1024
    assert chat.say("江南新村3号楼", "钱组长", "/图表")[0].text == "抱歉，/图表 仅限社工使用。"


def test_daily_digest_goes_to_staff_rooms_at_digest_time(chat: Simulation) -> None:
    chat.say(STAFF, "王社工", "早")
    chat.say("江南新村3号楼", "郑老伯", "报修 3号楼楼道灯坏了")
    chat.say("第2党支部", "赵党员", "#通知 3号楼 明天停水")
    day = chat.wait(hours=12)  # 09:00 → 21:00 on Monday 23 November
    digests = [d for d in day if d.text.startswith("【日报】")]
    assert len(digests) == 1 and digests[0].room_topic == STAFF
    assert digests[0].at == datetime(2026, 11, 23, 20, 0, tzinfo=SHANGHAI)
    text = digests[0].text
    assert "今日报告 1 条（楼组报告 1）" in text and "今日新增待办 1 条" in text
    assert "未确认的通知：N" in text
    # Monday is the weekly digest: the chart comes along, announced by a line of its own
    staff = [d for d in day if d.room_topic == STAFF]
    picture = next(index for index, d in enumerate(staff) if d.file_path and d.file_path.endswith(".png"))
    assert (
        staff[picture - 1].text == "上周各楼报告分布图（11-16至11-22）：" and not staff[picture - 1].file_path
    )
    tuesday = [d for d in chat.wait(hours=24) if d.room_topic == STAFF]
    digest = [d for d in tuesday if d.text.startswith("【日报】")]
    assert len(digest) == 1 and not any(d.file_path for d in tuesday)


def test_an_unwritable_exports_folder_costs_the_picture_not_the_digest(
    config, engine, clock, tmp_path
) -> None:
    from handlers import build_application

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the exports folder should be")
    broken = config.model_copy(update={"exports_dir": str(blocker / "exports")})
    chat = Simulation(build_application(broken, engine, clock), clock)
    chat.say(STAFF, "王社工", "早")
    chat.say("江南新村3号楼", "郑老伯", "报修 3号楼楼道灯坏了")
    export = chat.say(STAFF, "王社工", "/导出")
    assert [d.text for d in export] == [
        f"台帐没能保存到服务器的 {blocker / 'exports'} 目录（Not a directory），请管理员检查磁盘和目录权限。"
    ]
    assert chat.say(STAFF, "王社工", "/图表")[0].text.startswith("图表没能保存到服务器的")
    day = chat.wait(hours=12)  # Monday: the weekly digest would carry the chart
    digests = [d for d in day if d.text.startswith("【日报】")]
    assert len(digests) == 1 and "上周分布图没能保存到服务器" in digests[0].text
    assert not any(d.file_path for d in day)


def test_a_failing_job_waits_before_it_is_tried_again(chat: Simulation, monkeypatch) -> None:
    import bot.jobs
    from bot.app import JOB_RETRY

    tries: list[datetime] = []

    def broken(*_: object) -> None:
        tries.append(chat.clock.now())
        raise RuntimeError("a bug in the digest")

    monkeypatch.setattr(bot.jobs, "rooms_with_role", broken)
    chat.say(STAFF, "王社工", "早")
    chat.wait(hours=12)  # 09:00 → 21:00: the digest is due at 20:00 and keeps failing
    assert tries[0] == datetime(2026, 11, 23, 20, 0, tzinfo=SHANGHAI)
    assert [b - a for a, b in itertools.pairwise(tries)] == [JOB_RETRY] * (len(tries) - 1)
    assert len(tries) == 7  # 20:00, 20:10 … 21:00: not thousands of tries in a tight loop


def test_the_chart_counts_whole_reports(chat: Simulation, monkeypatch) -> None:
    from matplotlib.figure import Figure

    import bot.charts

    drawn: list[Figure] = []

    class Kept(Figure):  # keeps the figure to read its axis
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            drawn.append(self)

    monkeypatch.setattr(bot.charts, "Figure", Kept)
    chat.say("江南新村3号楼", "郑老伯", "报修 3号楼楼道灯坏了")
    chat.say(STAFF, "王社工", "/图表 本月")
    ticks = drawn[0].axes[0].get_yticks()
    assert len(ticks) and all(float(tick).is_integer() for tick in ticks)
