"""Who is speaking: roles above resident are bound by proof (a one-time code, an id in config or
the roster, an admin's @-pick), never by a display name. Each attack is played as it was tried,
on the shipped config.yaml (which names its staff but knows none of their WeChat ids)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.clock import VirtualClock
from bot.config import Config, RoomRule
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.models import BindCode, Delegation, Person, RoleEvent
from tests.conftest import bind_by_code, issue_bind_code

REFUSE_ADMIN = "抱歉，/设为 仅限管理员使用。"
HINT = "您在名册中是{role}，但这个微信号还没有绑定。"


@pytest.fixture
def site(shipped_config: Config, engine: Engine, clock: VirtualClock, tmp_path: Path) -> Simulation:
    """A fresh install with the shipped config.yaml, exactly as a committee starts."""
    config = shipped_config.model_copy(update={"exports_dir": str(tmp_path / "exports")})
    return Simulation(build_application(config, engine, clock), clock)


def role_of(chat: Simulation, name: str) -> tuple[str, str | None, str | None]:
    with chat.bot.services.factory() as session:
        person = session.scalars(select(Person).where(Person.name == name).order_by(Person.id)).first()
        assert person is not None
        return person.role, person.wechat_id, person.bound_via


def test_a_display_name_is_no_proof(site: Simulation) -> None:
    """The issue's first paragraph: wxid_imposter calls itself 李书记 and makes itself admin."""
    replies = site.say(
        None, "李书记", "/设为 @我自己 管理员", sender_id="wxid_imposter", mentions=("wxid_imposter",)
    )
    assert replies[0].text.startswith(REFUSE_ADMIN)
    assert HINT.format(role="管理员") in replies[0].text and "/绑定 绑定码" in replies[0].text
    assert role_of(site, "李书记") == ("admin", None, None)  # the impostor's id was not learned either
    # the real 李书记 binds with a code from the server and is admin; the impostor stays nobody
    assert bind_by_code(site, "李书记", "wxid_li").startswith("绑定成功：您是 李书记（管理员）")
    assert site.say(None, "李书记", "/待办", sender_id="wxid_li")[0].text.startswith(("没有", "待办"))
    assert (
        site.say(None, "李书记", "/待办", sender_id="wxid_imposter")[0].text == "抱歉，/待办 仅限社工使用。"
    )


def test_unbound_staff_are_told_how_to_bind_on_every_privileged_command(site: Simulation) -> None:
    reply = site.say("江南新村3号楼", "王社工", "#紧急通知 全体 今晚停电")[0].text
    assert reply.startswith("抱歉，#紧急通知 仅限党员、社工使用。") and HINT.format(role="社工") in reply
    reply = site.say(None, "王社工", "/汇总")[0].text
    assert reply.startswith("抱歉，/汇总 仅限社工、楼组长、街道使用。") and HINT.format(role="社工") in reply
    # as a resident they may still report
    assert site.say("江南新村3号楼", "王社工", "报告 3号楼楼道灯坏了")[0].text.startswith("已登记")


@pytest.mark.parametrize("lookalike", ["李书記", "李书记 ", "李书记\u3000", "李 书记", "Li书记"])
def test_lookalike_names_get_nothing(site: Simulation, lookalike: str) -> None:
    bind_by_code(site, "李书记", "wxid_li")
    site.say("江南新村3号楼", "孙师傅", "早")
    replies = site.say(
        None, lookalike, "/设为 @孙师傅 管理员", sender_id="wxid_fake", mentions=("wxid_孙师傅",)
    )
    assert replies[0].text == REFUSE_ADMIN
    assert (
        site.say(None, lookalike, "/绑定 工作群", sender_id="wxid_fake")[0].text
        == "抱歉，/绑定 仅限管理员使用。"
    )


def test_roles_follow_the_id_not_the_name(site: Simulation) -> None:
    assert bind_by_code(site, "王社工", "wxid_wang").startswith("绑定成功：您是 王社工（社工）")
    # a resident who chatted before renames to 王社工 after the binding: still a resident
    site.say("江南新村3号楼", "小张", "大家好", sender_id="wxid_x")
    assert site.say(None, "王社工", "/待办", sender_id="wxid_x")[0].text == "抱歉，/待办 仅限社工使用。"
    # a second contact with the same display name never shares the role
    assert (
        site.say("江南新村3号楼", "王社工", "/待办", sender_id="wxid_y")[0].text
        == "抱歉，/待办 仅限社工使用。"
    )
    # the real one renames: a rename is just a rename
    assert site.say(None, "小王", "/待办", sender_id="wxid_wang")[0].text != "抱歉，/待办 仅限社工使用。"


def test_codes_are_single_use_expire_and_lock_after_five_failures(site: Simulation) -> None:
    code = issue_bind_code(site, "王社工")
    assert site.say(None, "王社工", f"/绑定 {code}", sender_id="wxid_wang")[0].text.startswith("绑定成功")
    assert site.say(None, "王社工", f"/绑定 {code}", sender_id="wxid_other")[0].text.startswith(
        "这个绑定码已经用过了"
    )
    old = issue_bind_code(site, "赵党员")
    site.wait(hours=24, minutes=1)
    assert site.say(None, "赵党员", f"/绑定 {old}", sender_id="wxid_zhao")[0].text.startswith(
        "这个绑定码已过期"
    )
    fresh = issue_bind_code(site, "赵党员")
    wrong = "00000000" if fresh != "00000000" else "11111111"
    for _ in range(5):
        assert site.say(None, "某人", f"/绑定 {wrong}", sender_id="wxid_other")[0].text.startswith(
            "绑定码不对"
        )
    # locked for an hour: even the right code is not tried
    assert site.say(None, "某人", f"/绑定 {fresh}", sender_id="wxid_other")[0].text.startswith(
        "绑定码错误次数太多"
    )
    # the lock is that contact's: the right person with the right code is not held up
    assert site.say(None, "赵党员", "/绑定 1234-5678", sender_id="wxid_zhao")[0].text.startswith("绑定码不对")
    assert site.say(None, "赵党员", f"/绑定 {fresh}", sender_id="wxid_zhao")[0].text.startswith("绑定成功")
    site.wait(minutes=59)
    assert site.say(None, "某人", f"/绑定 {wrong}", sender_id="wxid_other")[0].text.startswith(
        "绑定码错误次数太多"
    )
    site.wait(minutes=2)
    assert site.say(None, "某人", f"/绑定 {wrong}", sender_id="wxid_other")[0].text.startswith("绑定码不对")
    with site.bot.services.factory() as session:
        assert all(
            len(row.code_hash) == 64 and code not in row.code_hash
            for row in session.scalars(select(BindCode))
        )


def test_a_code_typed_in_a_group_is_void(site: Simulation) -> None:
    code = issue_bind_code(site, "王社工")
    assert site.say("江南新村3号楼", "王社工", f"/绑定 {code}")[0].text.startswith("绑定码请私聊我发送")
    assert site.say(None, "王社工", f"/绑定 {code}")[0].text.startswith("绑定码不对")


def test_a_bound_admin_hands_out_codes_in_private_chat(site: Simulation) -> None:
    unbound = site.say(None, "李书记", "/绑定码 王社工")[0].text
    assert unbound.startswith("抱歉，/绑定码 仅限管理员使用。")
    bind_by_code(site, "李书记")
    assert (
        site.say("江南新村3号楼", "李书记", "/绑定码 王社工")[0].text == "绑定码请私聊我获取，不要在群里发。"
    )
    assert site.say(None, "李书记", "/绑定码 王小二")[0].text.startswith("名册里没有“王小二”")
    reply = site.say(None, "李书记", "/绑定码 王社工")[0].text
    assert reply.startswith("王社工（社工）的绑定码：")
    code = reply.split("：")[1][:8]
    assert site.say(None, "王社工", f"/绑定 {code}", sender_id="wxid_wang")[0].text.startswith("绑定成功")
    assert role_of(site, "王社工") == ("staff", "wxid_wang", "code")
    # a lost phone: the admin unbinds, the role waits for a new code
    assert site.say(None, "李书记", "/解绑 王社工")[0].text.startswith("已解除 王社工 的微信号绑定")
    assert site.say(None, "王社工", "/待办", sender_id="wxid_wang")[0].text.startswith(
        "抱歉，/待办 仅限社工使用。"
    )


def test_roles_are_set_only_on_a_real_mention(site: Simulation) -> None:
    bind_by_code(site, "李书记")
    site.bot.services.bot_id = "wxid_bot"
    # issue 14: no invented wxid_<name> for a typed name
    typed = site.say(None, "李书记", "/授权 @张阿姨 今天")[0].text
    assert typed.startswith("请从微信的 @ 列表里选中这个人")
    assert site.say(None, "李书记", "/设为 @孙师傅 楼组长 5号楼")[0].text.startswith(
        "请从微信的 @ 列表里选中这个人"
    )
    # a mention of an id the bot has never seen
    unseen = site.say(None, "李书记", "/设为 @孙师傅 楼组长 5号楼", mentions=("wxid_made_up",))[0].text
    assert unseen.startswith("还没见过 孙师傅 发言")
    # the bot is @-mentioned too: the right goes to the person, never to the bot
    site.say("江南新村5号楼", "孙师傅", "早")
    reply = site.say(
        "江南新村5号楼",
        "李书记",
        "@亲邻助手 /设为 @孙师傅 楼组长 5号楼",
        mentions=("wxid_bot", "wxid_孙师傅"),
    )
    assert reply[0].text == "已将 孙师傅 设为楼组长（5号楼）。"
    only_bot = site.say("江南新村5号楼", "李书记", "/设为 @亲邻助手 管理员", mentions=("wxid_bot",))[0].text
    assert only_bot.startswith("请从微信的 @ 列表里选中这个人")
    site.say("江南新村3号楼", "张阿姨", "早")
    site.say("江南新村3号楼", "李书记", "@亲邻助手 /授权 @张阿姨 今天", mentions=("wxid_bot", "wxid_张阿姨"))
    with site.bot.services.factory() as session:
        assert sorted(
            session.scalars(
                select(Person.wechat_id).where(Person.role != "resident", Person.wechat_id.is_not(None))
            )
        ) == sorted(["wxid_李书记", "wxid_孙师傅"])
        assert [d.wechat_id for d in session.scalars(select(Delegation))] == ["wxid_张阿姨"]


def test_role_changes_are_audited_and_the_last_admin_stays(site: Simulation) -> None:
    bind_by_code(site, "李书记")
    assert site.say(None, "李书记", "/设为 @李书记 居民", mentions=("wxid_李书记",))[0].text == (
        "李书记 是最后一位管理员，不能撤下；请先设另一位管理员。"
    )
    site.say("江南新村5号楼", "孙师傅", "早")
    site.say(None, "李书记", "/设为 @孙师傅 管理员", mentions=("wxid_孙师傅",))
    assert (
        site.say(None, "李书记", "/设为 @李书记 社工", mentions=("wxid_李书记",))[0].text
        == "已将 李书记 设为社工。"
    )
    assert site.say(None, "孙师傅", "/设为 @孙师傅 居民", mentions=("wxid_孙师傅",))[0].text.startswith(
        "孙师傅 是最后一位管理员"
    )
    site.say(None, "孙师傅", "/授权 @李书记 今天", mentions=("wxid_李书记",))
    site.say(None, "孙师傅", "/撤销授权 @李书记", mentions=("wxid_李书记",))
    with site.bot.services.factory() as session:
        events = [
            (e.action, e.person_name, e.old_role, e.new_role, e.actor_name)
            for e in session.scalars(
                select(RoleEvent).where(RoleEvent.actor_id != "config").order_by(RoleEvent.id)
            )
        ]
        stamped = all(e.at is not None for e in session.scalars(select(RoleEvent)))
    assert (
        events
        == [
            ("code", "李书记", "admin", "admin", "qinlin roster code"),
            ("bind", "李书记", "admin", "admin", "李书记"),
            ("set_role", "孙师傅", "resident", "admin", "李书记"),
            ("set_role", "李书记", "admin", "staff", "李书记"),
            ("delegate", "李书记", "staff", "staff", "孙师傅"),
            ("revoke", "李书记", "staff", "staff", "孙师傅"),
        ]
        and stamped
    )


def test_an_impostor_cannot_rebind_a_building_room(site: Simulation) -> None:
    site.say("江南新村3号楼", "张阿姨", "早")
    refused = site.say("江南新村3号楼", "李书记", "/绑定 工作群", sender_id="wxid_imposter")[0].text
    assert refused.startswith("抱歉，/绑定 仅限管理员使用。") and HINT.format(role="管理员") in refused
    assert site.say("江南新村3号楼", "张阿姨", "报告 3号楼楼道灯坏了")[0].text.startswith("已登记 楼组报告")


def test_an_id_in_the_roster_binds_without_a_code(site: Simulation, tmp_path: Path) -> None:
    from bot.roster import import_roster_file
    from storage.db import unit_of_work

    roster = tmp_path / "名册.csv"
    roster.write_text("姓名,微信号,角色,楼号\n周老师,wxid_zhou,楼组长,48\n吴阿姨,,社工,\n", encoding="utf-8")
    with unit_of_work(site.bot.services.factory) as session:
        assert import_roster_file(session, roster, site.clock.now()).errors == []
    assert site.say("江南新村48号楼", "周老师", "/汇总", sender_id="wxid_zhou")[0].text.startswith(
        "48号楼 · 今天"
    )
    assert HINT.format(role="社工") in site.say(None, "吴阿姨", "/待办", sender_id="wxid_wu")[0].text
    with site.bot.services.factory() as session:
        imported = [
            (e.action, e.person_name, e.new_role)
            for e in session.scalars(
                select(RoleEvent).where(RoleEvent.action == "import").order_by(RoleEvent.id)
            )
        ]
    assert imported == [("import", "周老师", "leader"), ("import", "吴阿姨", "staff")]


def test_an_id_in_config_binds_without_a_code(
    shipped_config: Config, engine: Engine, clock: VirtualClock
) -> None:
    people = [
        p.model_copy(update={"wechat_id": "wxid_real_wang"}) if p.name == "王社工" else p
        for p in shipped_config.people
    ]
    chat = Simulation(
        build_application(shipped_config.model_copy(update={"people": people}), engine, clock), clock
    )
    assert chat.say(None, "小王", "/待办", sender_id="wxid_real_wang")[0].text != "抱歉，/待办 仅限社工使用。"
    assert chat.say(None, "王社工", "/待办", sender_id="wxid_other")[0].text == "抱歉，/待办 仅限社工使用。"


# ------------------------------------------------------------------ rooms are bound by proof too


def bound_rooms(chat: Simulation) -> dict[str, str | None]:
    from storage.models import Room

    with chat.bot.services.factory() as session:
        return {room.topic: room.role for room in session.scalars(select(Room))}


def staffed(site: Simulation) -> None:
    """A committee's first morning: the admin binds by code and binds the staff and branch rooms."""
    bind_by_code(site, "李书记")
    assert site.say("居委工作群", "李书记", "/绑定 工作群")[0].text == "已将本群绑定为工作群。"
    assert site.say("第2党支部", "李书记", "/绑定 第2支部")[0].text == "已将本群绑定为第2支部群。"
    for topic in ("江南新村3号楼", "江南新村8号楼"):
        site.say(topic, "张阿姨", "早")


def test_a_topic_never_makes_a_staff_or_party_room(site: Simulation) -> None:
    # before any admin: the staff room's own topic does not make it one
    site.say("居委工作群", "王社工", "早")
    assert bound_rooms(site)["居委工作群"] is None
    staffed(site)
    notes = site.say("张阿姨的工作群", "张阿姨", "大家好")
    assert [(d.room_topic, d.text) for d in notes] == [
        (
            "居委工作群",
            "提示：新群“张阿姨的工作群”的名字像工作群，但群名谁都能改，所以没有自动绑定。如果它确实是工作群，请管理员在该群里发送 /绑定 工作群。",
        )
    ]
    site.say("广场舞姐妹群", "冯阿姨", "跳舞啦", room_id="room-dance")
    renamed = site.say("广场舞队工作群", "冯阿姨", "今晚七点", room_id="room-dance")
    assert [d.room_topic for d in renamed] == ["居委工作群"] and "/绑定 工作群" in renamed[0].text
    assert "/绑定 第2支部" in site.say("第2党支部(阿强)", "阿强", "大家好")[0].text
    rooms = bound_rooms(site)
    assert (rooms["张阿姨的工作群"], rooms["广场舞队工作群"], rooms["第2党支部(阿强)"]) == (None, None, None)
    # the day goes on: the digest reaches only the bound staff room, 各支部 only the bound branch room
    relay = site.say("居委工作群", "李书记", "#通知 各支部 党员先学习")
    assert sorted(d.room_topic for d in relay if d.text.startswith("【通知】")) == ["第2党支部"]
    digest = site.wait(hours=12)
    assert {d.room_topic for d in digest if d.text.startswith("【日报】")} == {"居委工作群"}


def test_a_rename_never_raises_a_room(site: Simulation) -> None:
    staffed(site)
    renamed = site.say("江南新村3号楼工作群", "张阿姨", "早", room_id="room_江南新村3号楼")
    assert [(d.room_topic, d.text) for d in renamed] == [
        ("居委工作群", "提示：群“江南新村3号楼”已改名为“江南新村3号楼工作群”，绑定保持不变。")
    ]
    assert bound_rooms(site)["江南新村3号楼工作群"] == "building"
    # an admin's /绑定 of a staff room is told to the staff room
    bound = site.say("党员活动室", "李书记", "/绑定 党总支")
    assert ("居委工作群", "提示：李书记 已将群“党员活动室”绑定为党总支群。") in [
        (d.room_topic, d.text) for d in bound
    ]


def test_a_config_entry_naming_the_id_binds_a_staff_room(
    shipped_config: Config, engine: Engine, clock: VirtualClock
) -> None:
    from bot.config import RoomRule

    config = shipped_config.model_copy(
        update={"rooms": [RoomRule(id="12345@chatroom", role="staff"), *shipped_config.rooms]}
    )
    chat = Simulation(build_application(config, engine, clock), clock)
    chat.say("居委会", "王社工", "早", room_id="12345@chatroom")
    chat.say("居委工作群", "王社工", "早")
    assert bound_rooms(chat) == {"居委会": "staff", "居委工作群": None}


def test_rooms_bound_by_a_topic_alone_before_proof_are_lowered_once_at_start(
    shipped_config: Config, engine: Engine, clock: VirtualClock, tmp_path: Path
) -> None:
    """An upgraded install: 张阿姨的工作群 and 第2党支部(阿强) became a staff and a branch room by their
    names before rooms were bound by proof. The next start unbinds them and says so, once; the
    room an admin bound and the one config.yaml names by id stay."""
    from storage.db import unit_of_work
    from storage.models import OutboxMessage, Room

    config = shipped_config.model_copy(
        update={
            "exports_dir": str(tmp_path / "exports"),
            "rooms": [RoomRule(id="room_党总支", role="general"), *shipped_config.rooms],
        }
    )
    site = Simulation(build_application(config, engine, clock), clock)
    now = clock.now()
    with unit_of_work(site.bot.services.factory) as session:
        session.add_all(
            [
                Room(
                    id="room_张阿姨的工作群",
                    topic="张阿姨的工作群",
                    role="staff",
                    bound_by="config",
                    first_seen_at=now,
                    updated_at=now,
                ),
                Room(
                    id="room_阿强",
                    topic="第2党支部(阿强)",
                    role="branch",
                    branch=2,
                    buildings="7,8,9,10,11,12",
                    bound_by="config",
                    first_seen_at=now,
                    updated_at=now,
                ),
                Room(
                    id="room_居委工作群",
                    topic="居委工作群",
                    role="staff",
                    bound_by="admin",
                    first_seen_at=now,
                    updated_at=now,
                ),
                Room(
                    id="room_党总支",
                    topic="党总支",
                    role="general",
                    bound_by="config",
                    first_seen_at=now,
                    updated_at=now,
                ),
            ]
        )
    restarted = Simulation(build_application(config, engine, clock), clock)
    restarted.drain()
    with restarted.bot.services.factory() as session:
        roles = {room_id: role for room_id, role in session.execute(select(Room.id, Room.role))}
    assert roles == {
        "room_张阿姨的工作群": None,
        "room_阿强": None,
        "room_居委工作群": "staff",
        "room_党总支": "general",
    }
    told = sorted((d.room_topic or "", d.text) for d in restarted.delivered)
    assert told == sorted(
        [
            (
                "张阿姨的工作群",
                "提示：群“张阿姨的工作群”以前只凭群名绑定为工作群。群名谁都能改，现已解除绑定，不再收到工作群的消息；"
                "如果它确实是工作群，请管理员在该群里发送 /绑定 工作群。",
            ),
            (
                "居委工作群",
                "提示：群“张阿姨的工作群”以前只凭群名绑定为工作群。群名谁都能改，现已解除绑定，不再收到工作群的消息；"
                "如果它确实是工作群，请管理员在该群里发送 /绑定 工作群。",
            ),
            (
                "第2党支部(阿强)",
                "提示：群“第2党支部(阿强)”以前只凭群名绑定为党支部群。群名谁都能改，现已解除绑定，不再收到党支部群的消息；"
                "如果它确实是党支部群，请管理员在该群里发送 /绑定 第2支部。",
            ),
            (
                "居委工作群",
                "提示：群“第2党支部(阿强)”以前只凭群名绑定为党支部群。群名谁都能改，现已解除绑定，不再收到党支部群的消息；"
                "如果它确实是党支部群，请管理员在该群里发送 /绑定 第2支部。",
            ),
        ]
    )
    again = Simulation(build_application(config, engine, clock), clock)
    again.drain()
    assert again.delivered == []  # once
    with again.bot.services.factory() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.dedupe_key.like("lowered:%"))
            )
            == 4
        )
