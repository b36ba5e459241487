"""What the bot says when someone typed a command wrongly or may not do what they asked, and the
lines several places say: kept here so they can be read together and keep one tone — short,
polite (抱歉 for a refusal), the record's number first, and an example in every 格式 reply.
tests/test_reply_texts.py walks every 格式 text and sends every malformed command.

Templates take their values with ``str.format``; nothing here imports the rest of the bot, so
every floor (services, handlers, the router) may use it.
"""

from __future__ import annotations

# ------------------------------------------------------------------ how each command is written
# The reply to a command whose arguments cannot be read: its shape, then an example.
USAGE = {
    "更正": "格式：更正 <编号> <内容>，例如：更正 7 302室",
    "撤回": "格式：撤回 <编号>，例如：撤回 7",
    "/办结": "格式：/办结 <编号> [说明]，例如：/办结 7 已联系物业修好",
    "/回执": "格式：/回执 <通知编号>，例如：/回执 N12",
    "/取消": "格式：/取消 <通知编号>，例如：/取消 N13",
    "/撤回通知": "格式：/撤回通知 <通知编号>，例如：/撤回通知 N12",
    "确认": "格式：确认 <通知编号>，例如：确认 N12",
    "/设为": "格式：/设为 @某人 <角色> [楼号]，例如：/设为 @钱组长 楼组长 3号楼（角色：居民、楼组长、党员、社工、管理员）",
    "/授权": "格式：/授权 @某人 今天，例如：/授权 @张阿姨 今天",
    "/撤销授权": "格式：/撤销授权 @某人，例如：/撤销授权 @张阿姨",
    "/绑定码": "格式：/绑定码 <姓名>，例如：/绑定码 王社工",
    "/解绑": "格式：/解绑 <姓名>，例如：/解绑 王社工",
}
CHAIN_WITHOUT_LINES = "接龙里没有找到编号行，格式例如：\n#接龙 返沪登记\n1. 3号楼201 2人"

# ------------------------------------------------------------------ refusals and missing records
REFUSED = "抱歉，{command} 仅限{who}使用。"  # a route's permission failed
REPORT_NOT_FOUND = "没有找到 #{number}，请核对编号。"
REPORT_NOT_YOURS = "抱歉，只有报告人或社工可以{verb} #{number}。"
REPORT_CLOSED = "#{number} {status}，不能再更正。"
NOTICE_NOT_YOURS = "抱歉，只有发布人或社工可以{verb} N{number}。"

# ------------------------------------------------------------------ when something went wrong
GENERIC_FAILURE = "抱歉，这条消息处理出错了，已记录原文，工作人员会跟进。"


def usage(command: str) -> str:
    """The 格式 reply of ``command`` ("更正", "/回执")."""
    return USAGE[command]
