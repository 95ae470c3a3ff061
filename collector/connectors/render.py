"""The text of internal notes, in the ticket's language (the household's contact language; English without one).

A bundle's note carries the diagnosis in the desk's four parts (symptom – root cause – solution – risk) for each
finding that is not normal behaviour, the same findings the engineer's ticket page shows, in the translation the
agent made when there is one.
"""

from __future__ import annotations

from datetime import datetime

from shared.models import DiagnosisReport, Explanation, Finding

from ..models import BundleRecord, Ticket, TicketEvent
from ..notify.messages import MILESTONE_WORDS
from ..store.contacts import Language
from ..support.events import EventKind

LABELS: dict[Language, dict[str, str]] = {
    Language.EN: {
        "evidence": "homediag evidence: bundle {bundle} ({kind}{signature}), verified",
        "window": "Capture window",
        "diagnosis": "Diagnosis",
        "no_diagnosis": "The bundle holds no diagnosis.",
        "symptom": "Symptom",
        "root_cause": "Root cause",
        "solution": "Solution",
        "risk": "Risk",
        "timeline": "Engineer's timeline",
        "attached": "Signed bundle attached: {name} ({size} bytes, sha256 {sha256}); check it with"
        " `homediag-agent bundle verify {name}`.",
        "link": "Signed bundle ({size} bytes, sha256 {sha256}), larger than this helpdesk takes as an attachment:"
        " {url} (valid until {expires}).",
        "sla_warning": "SLA warning: {target} is due {due}",
        "sla_breached": "SLA breached: {target} was due {due}",
        "milestone": "Milestone: {milestone}",
        "opened": "homediag ticket {ticket} for household {household}: {device}. The evidence follows as internal"
        " notes.",
        "subject": "[homediag #{ticket}] {device}",
        "internal": "Internal note from homediag; not sent to the customer.",
        "colon": ": ",
    },
    Language.ZH: {
        "evidence": "homediag 证据：数据包 {bundle}（{kind}{signature}），已验证",
        "window": "采集时间窗",
        "diagnosis": "诊断",
        "no_diagnosis": "该数据包不含诊断。",
        "symptom": "症状",
        "root_cause": "根本原因",
        "solution": "解决方案",
        "risk": "风险",
        "timeline": "工程师时间线",
        "attached": "已附上签名数据包：{name}（{size} 字节，sha256 {sha256}）；可用 `homediag-agent bundle verify {name}` 校验。",
        "link": "签名数据包（{size} 字节，sha256 {sha256}）超过此服务台的附件上限：{url}（有效期至 {expires}）。",
        "sla_warning": "SLA 预警：{target} 的期限为 {due}",
        "sla_breached": "SLA 已超时：{target} 的期限为 {due}",
        "milestone": "里程碑：{milestone}",
        "opened": "homediag 工单 {ticket}，住户 {household}：{device}。证据将以内部备注的形式补充。",
        "subject": "[homediag #{ticket}] {device}",
        "internal": "来自 homediag 的内部备注，不会发送给客户。",
        "colon": "：",
    },
}


def bundle_filename(record: BundleRecord) -> str:
    return f"{record.bundle_id}.tar.gz"  # the name the collector's own download gives it


def subject(ticket: Ticket, language: Language) -> str:
    return LABELS[language]["subject"].format(ticket=ticket.id, device=ticket.intake.device[:120])


def opening_text(ticket: Ticket, language: Language) -> str:
    """What a new helpdesk ticket says: who and what, nothing the customer said in their own words."""
    return LABELS[language]["opened"].format(ticket=ticket.id, household=ticket.household, device=ticket.intake.device)


def _explanation(finding: Finding, language: Language) -> Explanation:
    return finding.translations.get(language.value, finding.explanation)


def diagnosis_lines(diagnosis: DiagnosisReport | None, language: Language) -> list[str]:
    words = LABELS[language]
    if diagnosis is None:
        return [words["no_diagnosis"]]
    colon = words["colon"]
    lines = [f"{words['diagnosis']}{colon}{diagnosis.verdict.value} ({diagnosis.priority.value})"]
    for finding in diagnosis.findings:
        if finding.expected:
            continue
        explained = _explanation(finding, language)
        lines += [
            "",
            f"* {finding.title} ({round(finding.confidence * 100)} %)",
            *(
                f"  {words[part]}{colon}{getattr(explained, part)}"
                for part in ("symptom", "root_cause", "solution", "risk")
            ),
        ]
    return lines


def bundle_note_text(
    record: BundleRecord,
    diagnosis: DiagnosisReport | None,
    language: Language,
    *,
    timeline_url: str,
    download: tuple[str, datetime] | None,
) -> str:
    """The note for one bundle; ``download`` is (url, expiry) when the bundle goes as a link, not attached."""
    words = LABELS[language]
    signature = f" {record.trigger.signature}" if record.trigger.signature else ""
    lines = [
        words["evidence"].format(bundle=record.bundle_id, kind=record.trigger.kind.value, signature=signature),
        f"{words['window']}{words['colon']}{record.window.start.isoformat()} – {record.window.end.isoformat()}",
        "",
        *diagnosis_lines(diagnosis, language),
        "",
        f"{words['timeline']}{words['colon']}{timeline_url}",
    ]
    if download is None:
        lines.append(words["attached"].format(name=bundle_filename(record), size=record.size, sha256=record.sha256))
    else:
        url, expires = download
        lines.append(words["link"].format(size=record.size, sha256=record.sha256, url=url, expires=expires.isoformat()))
    lines += ["", words["internal"]]
    return "\n".join(lines)


def event_note_text(event: TicketEvent, language: Language) -> str | None:
    """The internal note an SLA warning, breach or milestone calls for, or None."""
    words = LABELS[language]
    match event.kind:
        case EventKind.SLA_WARNING | EventKind.SLA_BREACHED:
            text = words[event.kind].format(target=event.data.get("target", "?"), due=event.data.get("due", "?"))
        case EventKind.MILESTONE:
            name = str(event.data.get("name", ""))
            text = words["milestone"].format(milestone=MILESTONE_WORDS[language].get(name, name))
            if event.data.get("text"):
                text += f"\n\n{event.data['text']}"
        case _:
            return None
    return f"{text}\n\n{words['internal']}"
