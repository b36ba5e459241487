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

# ------------------------------------------------------------------ roster files and binding
# Problems (bot.errors.Problem codes) the staff read on the web page and in chat; the operator's
# terminal says the same codes in English (bot/cli.py). A row's problem follows ROSTER_LINE.
ROSTER_LINE = "第{line}行：{problem}"
ROSTER_PROBLEMS = {
    "nul": "{column}里有空字符（\\x00），请检查这一格",
    "no_name": "姓名为空",
    "unknown_role": "未知角色“{role}”",
    "branch_not_number": "支部应为数字“{value}”",
    "no_such_branch": "没有第{branch}支部（本居民区有第{first}至第{last}支部）",
    "no_branches": "没有第{branch}支部（config.yaml 里没有设支部）",
    "building_not_number": "楼号应为数字“{value}”",
    "building_out_of_range": "楼号超出范围“{value}”",
    "unit_not_digits": "室号应为 1 至 4 位数字（如 201、1201）“{value}”",
    "leads_not_range": "负责楼号应为楼号或范围（如 3、3,5 或 1-6）“{value}”",
    "too_long": "{column}太长（最多 {limit} 个字）",
    "too_many_leads": "负责楼号太多“{value}”",
    "formula": "{column}是公式，文件里没有算好的值，请在Excel里粘贴为数值后再导入",
    "repeated_id": "微信号“{wechat_id}”已在第 {first_line} 行（{first_name}）出现，本行未导入",
    "repeated_name": "{name} 已在第 {first_line} 行出现，本行未导入（同一人请删去重复行，同名的两人请各填微信号）",
    "last_admin": "{name} 是最后一位管理员，不能改为其他角色，本行未导入",
    # the file as a whole
    "folder": "{file} 是文件夹，不是名单文件",
    "suffix": "{file}：名单只能是 CSV 或 XLSX 文件",
    "not_excel": "{file} 不能当作 Excel 文件读取（{error}）",
    "unreadable": "{file} 读取失败（{error}）",
    "encoding": "{file} 的文字编码无法识别，请另存为 UTF-8 或 GBK 的 CSV",
    "cell_too_big": "{file} 第{line}行：单元格超过 {kb} KB，多半是引号没有配对，请检查这一行",
    "csv_broken": "{file} 第{line}行：无法读取（{error}）",
    "empty": "{file} 是空文件",
    "no_name_column": "{file} 的第一行没有“姓名”一列",
}
BINDING_PROBLEMS = {
    "not_in_roster": "名册里没有“{name}”（请先写进 config.yaml 或用 qinlin roster import 导入）。",
    "ambiguous": "名册里有 {count} 位“{name}”，请先在名册里把他们区分开。",
    "not_bound": "{name} 还没有绑定微信号。",
}


def usage(command: str) -> str:
    """The 格式 reply of ``command`` ("更正", "/回执")."""
    return USAGE[command]
