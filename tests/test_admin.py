"""Admin commands: binding rooms, setting roles, time-boxed delegation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.clock import SHANGHAI
from bot.transports.simulated import Simulation
from storage.models import Delegation, Person


def test_bind_an_unbound_room_then_it_takes_reports(chat: Simulation) -> None:
    assert chat.say("幸福小区一群", "张阿姨", "#家庭报告 7号楼201 返沪1人") == []
    assert chat.say("幸福小区一群", "张阿姨", "/绑定 7号楼")[0].text == "抱歉，/绑定 仅限管理员使用。"
    assert chat.say("幸福小区一群", "李书记", "/绑定 7号楼")[0].text == "已将本群绑定为7号楼楼组群。"
    reply = chat.say("幸福小区一群", "张阿姨", "登记 301 返沪1人")[0].text
    assert reply.startswith("已登记 家庭报告 #1：7号楼301室")
    assert chat.say("幸福小区二群", "李书记", "/绑定 花园")[0].text.startswith("没看懂要绑定成什么群")
    assert chat.say("幸福小区三群", "李书记", "/绑定 工作群")[0].text == "已将本群绑定为工作群。"
    assert chat.say("幸福小区四群", "李书记", "/绑定 第2支部")[0].text == "已将本群绑定为第2支部群。"
    assert chat.say("幸福小区五群", "李书记", "/绑定 第9支部")[0].text == (
        "config.yaml 里没有第9支部（有：第1支部、第2支部、第3支部、第4支部、第5支部、第6支部、第7支部、第8支部），"
        "请先在 branches 里写上它的楼号。"
    )


def test_renamed_room_stays_bound_and_staff_are_told(chat: Simulation) -> None:
    chat.say("居委工作群", "王社工", "早")
    chat.say("江南新村3号楼", "张阿姨", "早", room_id="room-3")
    replies = chat.say("3号楼邻里一家亲", "张阿姨", "登记 3号楼202 返沪1人", room_id="room-3")
    texts = {d.room_topic: d.text for d in replies}
    assert texts["居委工作群"] == "提示：群“江南新村3号楼”已改名为“3号楼邻里一家亲”，绑定保持不变。"
    assert texts["3号楼邻里一家亲"].startswith("已登记 家庭报告 #1")


def test_set_role_makes_a_leader(chat: Simulation) -> None:
    assert chat.say("江南新村5号楼", "孙师傅", "/汇总")[0].text == "抱歉，/汇总 仅限社工、楼组长、街道使用。"
    assert (
        chat.say(None, "李书记", "/设为 @孙师傅 楼组长 5号楼", mentions=("wxid_孙师傅",))[0].text
        == "已将 孙师傅 设为楼组长（5号楼）。"
    )
    assert chat.say("江南新村5号楼", "孙师傅", "/汇总")[0].text.startswith("5号楼 · 今天")
    assert chat.say(None, "王社工", "/设为 @孙师傅 管理员")[0].text == "抱歉，/设为 仅限管理员使用。"


def test_delegation_expires_at_midnight_and_can_be_revoked(chat: Simulation) -> None:
    chat.say("江南新村3号楼", "张阿姨", "早")
    assert chat.say(None, "张阿姨", "#通知 3号楼 明天停水")[0].text == "抱歉，#通知 仅限党员、社工使用。"
    assert (
        chat.say(None, "李书记", "/授权 @张阿姨 今天", mentions=("wxid_张阿姨",))[0].text
        == "已授权 张阿姨 今天发布通知（到今晚24:00为止）。"
    )
    assert chat.say(None, "张阿姨", "#通知 3号楼 明天停水")[0].text.startswith("已排队发送")
    chat.advance_to(datetime(2026, 11, 24, 0, 0, 1, tzinfo=SHANGHAI))
    assert chat.say(None, "张阿姨", "#通知 3号楼 后天停电")[0].text == "抱歉，#通知 仅限党员、社工使用。"
    chat.say(None, "李书记", "/授权 @张阿姨 今天", mentions=("wxid_张阿姨",))
    assert chat.say(None, "李书记", "/撤销授权 @张阿姨")[0].text == "已撤销 张阿姨 的临时授权。"
    assert chat.say(None, "张阿姨", "#通知 3号楼 后天停电")[0].text == "抱歉，#通知 仅限党员、社工使用。"


def test_a_name_longer_than_the_roster_keeps_gets_a_short_answer(chat: Simulation) -> None:
    """The roster keeps names of up to 64 characters: a longer one is refused in one line, not
    cut short into a different person (nor sent to the database to fail there)."""
    long_name = "孙" * 70
    chat.say("江南新村5号楼", long_name, "早")
    for command in (f"/设为 @{long_name} 楼组长 5号楼", f"/授权 @{long_name} 今天"):
        replies = chat.say(None, "李书记", command, mentions=(f"wxid_{long_name}",))
        assert [d.text for d in replies] == [
            "名字太长了（名册最多记 64 个字），请先让 TA 改个短些的群昵称再设置。"
        ]
    with chat.bot.services.factory() as session:
        assert (
            session.scalar(select(func.count()).select_from(Person).where(Person.name.startswith("孙孙")))
            == 0
        )
        assert session.scalar(select(func.count()).select_from(Delegation)) == 0
