"""Report intake in chat: new reports, follow-up answers, 接龙, 更正 and 撤回."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.app import Services
from bot.context import Ctx
from bot.errors import UserError
from bot.incidents import link_incident
from bot.message import MessageType, Reply
from bot.parsing import Fields, ParseResult
from bot.parsing.numerals import record_number
from bot.parsing.parser import MAX_CHAIN_LINES
from bot.privacy import staff_note_for_residents
from bot.reports import (
    CLOSED_STATUSES,
    FIELD_EXAMPLE,
    KIND_LABEL,
    STATUS_LABEL,
    Labels,
    apply_changes,
    ask_for,
    confirmation,
    describe,
    expire_question,
    fields_to_columns,
    may_change,
    missing_fields,
    record_event,
    refresh_status,
    short_hash,
)
from bot.router import Router
from bot.services.reports import correct_report
from bot.texts import CHAIN_WITHOUT_LINES, REPORT_CLOSED, REPORT_NOT_FOUND, REPORT_NOT_YOURS, usage
from storage.models import PendingQuestion, Report
from storage.repositories import reports as report_rows

MAX_RAW_TEXT = 20_000  # a 50 KB paste is kept, cut to a size a ledger cell can hold


def gist(ctx: Ctx, report: Report) -> str:
    """The resident's own words in short, as anyone in a group may read them (no phones, room
    numbers or other residents' names)."""
    words = ctx.services.parser.gist(report.raw_text, report.category)
    return (
        staff_note_for_residents(
            ctx.session, words, report.reporter_name, guess_names=False, memo=ctx.services.memo
        )
        if words
        else ""
    )


def minutes_text(minutes: float) -> str:
    return f"{minutes:g}分钟"


def labels(ctx: Ctx | Services) -> Labels:
    services = ctx.services if isinstance(ctx, Ctx) else ctx
    return Labels(services.parser.category_labels())


# ------------------------------------------------------------------ the follow-up dialog
#
# One explicit state per (room, person), as python-telegram-bot's ConversationHandler has its entry
# points, states, fallbacks and timeout — all of it here:
#   entry     a report missing a required field (building, room) asks for it: ask_follow_up
#             opens the question, replacing an open one (whose report is settled incomplete).
#   answer    the next message from that person in that room that gives a missing field
#             completes the report (Answered).
#   fallback  取消 / 算了 / 不报了 withdraws it (Cancelled); a voice message is asked to write
#             (VoiceWhileAsked); a new report is a new report; chatter that answers nothing is
#             left alone (no match).
#   timeout   after intake.followup_minutes the question lapses: the follow-up expiry job
#             (bot/jobs.py, expire_question) keeps the report as incomplete. An answer within
#             LATE_ANSWER_WINDOW after that is told, once, how to complete it (LateAnswer).
# The matcher (follow_up_step) finds which of these a message is and hands it to the handler
# (follow_up) as a typed step; the question row (pending_questions) is the state.

CANCEL_WORDS = frozenset({"取消", "算了", "不报了"})
# How long after a report an answer to its lapsed question is still recognised as one (and told
# what became of the report) rather than ignored as chatter. Told once per report.
LATE_ANSWER_WINDOW = timedelta(hours=12)
ANSWERABLE = ("building", "unit")  # the fields a follow-up question asks for


@dataclass(frozen=True)
class FollowUpStep:
    """What a message is to the open (or lapsed) question: one of the four below."""


@dataclass(frozen=True)
class Answered(FollowUpStep):
    question: PendingQuestion
    report: Report
    fields: Fields  # what the message gives of the missing fields


@dataclass(frozen=True)
class Cancelled(FollowUpStep):
    question: PendingQuestion
    report: Report


@dataclass(frozen=True)
class VoiceWhileAsked(FollowUpStep):
    question: PendingQuestion


@dataclass(frozen=True)
class LateAnswer(FollowUpStep):
    report: Report  # the reporter's latest report whose question lapsed


def open_question(ctx: Ctx) -> PendingQuestion | None:
    """The state: the open question to this person in this room, if any. Only asked of someone
    who has one: who has is kept (bot/memo.py) until a question row changes."""
    memo = ctx.services.memo
    if memo is not None:
        lapses = memo.answer(
            "open questions", {PendingQuestion: None}, ctx.session, report_rows.question_lapses
        )
        until = lapses.get((ctx.room_key, ctx.message.sender_id))
        if until is None or until <= ctx.now:
            return None
    return report_rows.open_question(ctx.session, ctx.room_key, ctx.message.sender_id, ctx.now)


def ask_follow_up(ctx: Ctx, report: Report) -> str:
    """Entry: open the question for ``report``'s missing fields; returns the question to say."""
    minutes = ctx.config.intake.followup_minutes
    # One open question per person and room: the one it replaces will never be answered, so its
    # report is settled as incomplete now instead of waiting as pending forever.
    for question in report_rows.questions_to(ctx.session, ctx.room_key, ctx.message.sender_id):
        expire_question(ctx.session, question, ctx.now)
    ctx.session.flush()
    ctx.session.add(
        PendingQuestion(
            room_key=ctx.room_key,
            person_id=ctx.message.sender_id,
            report_id=report.id,
            asked_at=ctx.now,
            expires_at=ctx.now + timedelta(minutes=minutes),
        )
    )
    return (
        f"已收到 {KIND_LABEL[report.kind]} #{report.id}，{ask_for(missing_fields(report))}"
        f"（{minutes_text(minutes)}内回复即可）。"
    )


def follow_up_step(ctx: Ctx) -> FollowUpStep | None:
    """What this message is to the follow-up dialog, or None (chatter, a new report, nothing open)."""
    if ctx.message.type == MessageType.VOICE:
        asked = open_question(ctx)
        return VoiceWhileAsked(asked) if asked is not None else None
    if not ctx.text:
        return None
    question = open_question(ctx)  # asked once per message: chatter costs this one query
    if ctx.parsed.is_report:  # a new report is a new report, not an answer
        return None
    if question is None:
        return _late_answer(ctx)
    report = ctx.session.get(Report, question.report_id)
    if report is None:
        return None
    if ctx.text in CANCEL_WORDS:
        return Cancelled(question, report)
    answer = ctx.services.parser.answer_fields(ctx.text, missing_fields(report), ctx.now)
    if any(getattr(answer, name) for name in missing_fields(report)):
        return Answered(question, report, answer)
    return None


def _late_answer(ctx: Ctx) -> LateAnswer | None:
    """An answer to a question that has lapsed: the same person in the same room, their latest
    report still missing what the message now gives. It must not be met with silence."""
    # Chatter that could answer no question ("今天菜场几点开门？") costs no query: only a message
    # that gives a building or a room number is looked at against lapsed questions.
    if not any(
        getattr(ctx.services.parser.answer_fields(ctx.text, list(ANSWERABLE), ctx.now), name)
        for name in ANSWERABLE
    ):
        return None
    room_id = ctx.room.id if ctx.room is not None else None
    report = report_rows.latest_unfinished(
        ctx.session, ctx.message.sender_id, room_id, ctx.now - LATE_ANSWER_WINDOW
    )
    if report is None or any(event.action == "late_answer" for event in report.events):
        return None
    answer = ctx.services.parser.answer_fields(ctx.text, missing_fields(report), ctx.now)
    if not any(getattr(answer, name) for name in missing_fields(report)):
        return None
    return LateAnswer(report)


def follow_up(ctx: Ctx, step: FollowUpStep) -> Reply:
    """回答机器人的补充提问（楼号、室号），或回复“取消”。"""
    match step:
        case Answered(question, report, fields):
            values = {
                k: v
                for k, v in fields_to_columns(fields).items()
                if k in missing_fields(report) or not getattr(report, k)
            }
            changes = apply_changes(report, values)
            refresh_status(report, ctx.config)
            report.updated_at = ctx.now
            record_event(ctx.session, report, "complete", ctx.identity, ctx.now, changes)
            ctx.session.delete(question)
            return _acknowledge(ctx, report)
        case Cancelled(question, report):
            ctx.session.delete(question)
            report.status = "withdrawn"
            report.updated_at = ctx.now
            record_event(
                ctx.session, report, "withdraw", ctx.identity, ctx.now, {"status": ("pending", "withdrawn")}
            )
            return Reply(f"好的，#{report.id} 已取消（记录保留为已撤回）。")
        case VoiceWhileAsked():
            return Reply("抱歉，语音无法登记，请用文字回复，例如 201。")
        case LateAnswer(report):
            for question in report_rows.questions_about(ctx.session, report.id):
                expire_question(ctx.session, question, ctx.now)  # lapsed, its job has not run yet
            record_event(ctx.session, report, "late_answer", ctx.identity, ctx.now)
            within = minutes_text(ctx.config.intake.followup_minutes)
            example = "".join(FIELD_EXAMPLE[name] for name in missing_fields(report))
            return Reply(
                f"#{report.id} 的补充已超过{within}，报告已按“信息不全”保存。"
                f"请回复“更正 {report.id} {example}”补上，或重新发送完整的报告。"
            )
    raise TypeError(f"not a follow-up step: {step!r}")


# ------------------------------------------------------------------ new reports


@dataclass(frozen=True)
class NewReport:
    result: ParseResult


def is_report(ctx: Ctx) -> NewReport | None:
    if not ctx.text:
        return None
    return NewReport(ctx.parsed) if ctx.parsed.is_report else None


# ------------------------------------------------------------------ handlers


def new_report(ctx: Ctx, match: NewReport) -> Reply | list[Reply]:
    """发送“报告/登记/报修/求助…”开头的消息即可上报，例如：#家庭报告 3号楼201 返沪2人 来自武汉"""
    result = match.result
    if result.is_chain:
        return chain_report(ctx, result)
    report = _store(ctx, result, dedupe_key=None)
    return _acknowledge(ctx, report)


def _store(ctx: Ctx, result: ParseResult, dedupe_key: str | None, raw_text: str | None = None) -> Report:
    """Create the report with room and roster defaults filled in, and its audit event."""
    values = fields_to_columns(result.fields)
    kind = result.kind or "family"
    room = ctx.room
    identity = ctx.identity
    room_building = (
        room.building_list[0]
        if room is not None and room.role == "building" and len(room.building_list) == 1
        else None
    )
    # What the message says wins; then a roster resident's own home (unless they write in another
    # building's room); then the building of the room.
    if "building" not in values and identity.building and room_building in (None, identity.building):
        values["building"] = identity.building
        if kind == "family" and identity.unit and "unit" not in values:
            values["unit"] = identity.unit
    if "building" not in values and room_building:
        values["building"] = room_building
    area = None
    if room is not None and room.role == "area":
        area = room.area
    elif kind == "area" and "building" not in values:
        # an area report from elsewhere (staff room, private chat) carries the area it names
        area = next(
            (name for name in sorted(ctx.config.areas, key=len, reverse=True) if name in ctx.text), None
        )
    report = Report(
        kind=kind,
        category=values.pop("category", None) or result.category or "other",
        status="pending",
        area=area,
        contact_name=getattr(result, "contact_name", None),
        reporter_id=ctx.message.sender_id,
        reporter_name=ctx.message.sender_name[:128],
        room_id=room.id if room else None,
        message_id=ctx.message.message_id,
        raw_text=(raw_text if raw_text is not None else ctx.message.text)[:MAX_RAW_TEXT],
        dedupe_key=dedupe_key,
        created_at=ctx.now,
        updated_at=ctx.now,
        **values,
    )
    refresh_status(report, ctx.config)
    ctx.session.add(report)
    ctx.session.flush()
    record_event(
        ctx.session, report, "create", identity, ctx.now, {k: (None, getattr(report, k)) for k in values}
    )
    return report


def _acknowledge(ctx: Ctx, report: Report) -> Reply:
    if report.status == "pending":
        return Reply(ask_follow_up(ctx, report))
    reporters = link_incident(ctx.session, report, ctx.now, ctx.services.parser.vocabulary.kind_triggers)
    merged = f"（已有 {reporters} 位居民反映同一问题，将一并处理）" if reporters > 1 else ""
    return Reply(confirmation(report, labels(ctx), gist(ctx, report)) + merged)


# A 接龙 is reposted for a day or two as people append their lines: within this time a repost's
# line for a room already on the list is that room's line, edited, not a new report.
CHAIN_MEMORY = timedelta(days=3)
# What an edited 接龙 line may change on the report it updates
CHAIN_LINE_FIELDS = ("people", "households", "origin", "event_date", "phone")


def chain_report(ctx: Ctx, result: ParseResult) -> Reply:
    """接龙：每一行是一户的家庭报告；转发时已登记过的行不会重复登记，改过的行更新原来的报告。"""
    created: list[Report] = []
    updated: list[Report] = []
    repeated = 0
    title = result.chain_title or ""
    earlier = report_rows.chain_reports(ctx.session, f"chain:{ctx.room_key}:", ctx.now - CHAIN_MEMORY)
    by_text = {report.raw_text: report for report in earlier}
    lines = result.lines or []
    # A repost whose header lost its title is the chain its unchanged lines belong to
    matched = [by_text[line.body] for line in lines if line.body in by_text]
    chain_category = (
        max({r.category for r in matched}, key=[r.category for r in matched].count) if matched else None
    )
    for line in lines:
        key = f"chain:{ctx.room_key}:{short_hash(title + '|' + line.line_key)}"
        if line.body in by_text or report_rows.key_taken(ctx.session, key):
            repeated += 1
            continue
        if line.category == "other" and chain_category and not title:
            line.fields.category = line.category = chain_category
        same_room = _same_household(earlier, line) if line.fields.unit else None
        if same_room is not None:
            _update_from_line(ctx, same_room, line)
            by_text[line.body] = same_room
            updated.append(same_room)
            continue
        report = _store(ctx, line, dedupe_key=key, raw_text=line.body)
        if report.status == "pending":  # a chain line cannot be asked about: keep it, flagged
            report.status = "incomplete"
        by_text[line.body] = report
        created.append(report)
    unread = (
        f"\n另有 {result.unread_lines} 行超出一次可登记的 {MAX_CHAIN_LINES} 行，未读取，请分开发送。"
        if result.unread_lines
        else ""
    )
    named = f"「{title}」" if title else ""
    if not created and not updated:
        if repeated:
            return Reply(f"接龙{named}的 {repeated} 行都已登记过，无新增。" + unread)
        raise UserError(CHAIN_WITHOUT_LINES)
    label_set = labels(ctx)
    shown = [
        f"#{r.id} {describe(r, label_set)}"
        + ("（缺" + "、".join(_missing_labels(r)) + "）" if r.status == "incomplete" else "")
        for r in created
    ]
    shown += [f"#{r.id} {describe(r, label_set)}（已更新）" for r in updated]
    head = f"已登记接龙{named} {len(created)} 条" if created else f"接龙{named}"
    if updated:
        head += f"{'；' if created else ''}更新 {len(updated)} 条"
    tail = f"；已登记过的 {repeated} 行未重复记录" if repeated else ""
    return Reply(head + tail + "：\n" + "\n".join(shown) + unread)


def _same_household(earlier: Sequence[Report], line: ParseResult) -> Report | None:
    """The earlier line of this 接龙 for the same room (same building and unit, same category)."""
    for report in reversed(earlier):
        if (
            report.unit == line.fields.unit
            and report.category == line.category
            and (line.fields.building is None or report.building == line.fields.building)
        ):
            return report
    return None


def _update_from_line(ctx: Ctx, report: Report, line: ParseResult) -> None:
    values = {k: v for k, v in fields_to_columns(line.fields).items() if k in CHAIN_LINE_FIELDS}
    changes = apply_changes(report, values)
    report.raw_text = line.body[:MAX_RAW_TEXT]
    refresh_status(report, ctx.config)
    report.updated_at = ctx.now
    record_event(ctx.session, report, "update", ctx.identity, ctx.now, changes)


def _missing_labels(report: Report) -> list[str]:
    from bot.reports import FIELD_LABEL

    return [FIELD_LABEL[name] for name in missing_fields(report)]


def _owned_report(ctx: Ctx, number: int, verb: str) -> Report:
    report = ctx.session.get(Report, number)
    if report is None:
        raise UserError(REPORT_NOT_FOUND.format(number=number))
    if not may_change(report, ctx.identity):
        raise UserError(REPORT_NOT_YOURS.format(verb=verb, number=number))
    return report


def correct(ctx: Ctx, arguments: str) -> Reply:
    """更正 <编号> <内容>：更正自己的报告，例如：更正 7 302室"""
    typed, _, rest = arguments.partition(" ")
    number = record_number(typed)
    if number is None or not rest.strip():
        raise UserError(usage("更正"))
    report = _owned_report(ctx, number, "更正")
    if report.status in CLOSED_STATUSES:
        raise UserError(REPORT_CLOSED.format(number=report.id, status=STATUS_LABEL[report.status]))
    values = fields_to_columns(ctx.services.parser.extract_fields(rest, ctx.now))
    kind = ctx.services.parser.kind_named(rest)  # 更正 7 片区报告
    if kind:
        values["kind"] = kind
    if not values:
        raise UserError(f"没看懂要更正什么，例如：更正 {report.id} 302室 或 更正 {report.id} 3人")
    return Reply(
        correct_report(ctx.session, ctx.config, labels(ctx), ctx.identity, number, values, ctx.now).text
    )


def withdraw(ctx: Ctx, arguments: str) -> Reply:
    """撤回 <编号>：撤回自己的报告（记录保留），例如：撤回 7"""
    number = record_number(arguments)
    if number is None:
        raise UserError(usage("撤回"))
    report = _owned_report(ctx, number, "撤回")
    if report.status == "withdrawn":
        return Reply(f"#{report.id} 已经撤回过了。")
    old = report.status
    report.status = "withdrawn"
    report.updated_at = ctx.now
    record_event(ctx.session, report, "withdraw", ctx.identity, ctx.now, {"status": (old, "withdrawn")})
    report_rows.drop_questions_about(ctx.session, report.id)
    return Reply(f"已撤回 #{report.id}（记录保留）。")


def register(router: Router) -> None:
    router.pattern("更正", r"^更正\s*#?(?P<args>.*)$", priority=20)(correct)
    router.pattern("撤回", r"^撤回\s*#?(?P<args>\d*\s*)$", priority=20)(withdraw)
    router.when("补充回答", follow_up_step, priority=40)(follow_up)  # the follow-up dialog, whole
    router.when("报告", is_report, priority=50)(new_report)
