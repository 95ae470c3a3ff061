"""Customer messages in English and Simplified Chinese: one subject and one plain-text body per kind.

Rendered once when the job is planned, so a retried job sends exactly the text first planned. Times are in the
household's time zone (``local`` in the context).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import jinja2

from ..store.contacts import Language


class MessageKind(StrEnum):
    RECEIVED = "received"
    MILESTONE = "milestone"
    REPLY = "reply"
    UPDATE = "update"
    RESOLVED = "resolved"
    SURVEY = "survey"
    COMPLAINT_ACK = "complaint_ack"
    STILL_WORKING = "still_working"  # the 72-hour notice: no customer has gone three days without news


_FOOTER = {
    Language.EN: "\n\nYour ticket: {{ link }}\n-- homediag support",
    Language.ZH: "\n\n您的工单：{{ link }}\n—— homediag 技术支持",
}

TEMPLATES: dict[Language, dict[MessageKind, tuple[str, str]]] = {
    Language.EN: {
        MessageKind.RECEIVED: (
            "We received your request (ticket {{ ticket_id }})",
            'Thank you for contacting us about "{{ device }}".\n\nYour ticket {{ ticket_id }} is level {{ priority }}.'
            "\nNext step: an engineer reviews the evidence from your hub and contacts you."
            "{% if expected %}\nExpected by: {{ expected }}{% endif %}",
        ),
        MessageKind.MILESTONE: (
            "Ticket {{ ticket_id }}: {{ milestone }}",
            "Progress on your ticket {{ ticket_id }}: {{ milestone }}.{% if text %}\n\n{{ text }}{% endif %}",
        ),
        MessageKind.REPLY: ("Ticket {{ ticket_id }}: a reply from support", "{{ text }}"),
        MessageKind.UPDATE: (
            "Ticket {{ ticket_id }}: progress update",
            "{{ text }}{% if expected %}\n\nNext update expected by: {{ expected }}{% endif %}",
        ),
        MessageKind.RESOLVED: (
            "Ticket {{ ticket_id }} is resolved: your service report",
            "Your ticket {{ ticket_id }} is resolved.\n\nSERVICE REPORT\nRoot cause: {{ root_cause or 'see the ticket' }}"
            "\nSolution: {{ solution or 'see the ticket' }}\nMaintenance advice: {{ advice or 'none' }}",
        ),
        MessageKind.SURVEY: (
            "How did we do? (ticket {{ ticket_id }})",
            "We would like to know whether the problem is gone and how satisfied you are (1 to 5).\n"
            "Please rate us here: {{ rate_link }}",
        ),
        MessageKind.COMPLAINT_ACK: (
            "We received your complaint (ticket {{ ticket_id }})",
            "We are sorry. Your complaint was received and a manager will answer within 24 hours with a plan.",
        ),
        MessageKind.STILL_WORKING: (
            "Ticket {{ ticket_id }}: we are still working on it",
            "We have not forgotten your ticket {{ ticket_id }} (level {{ priority }}). It is being worked on; you will"
            " hear from us again by {{ expected }} at the latest.",
        ),
    },
    Language.ZH: {
        MessageKind.RECEIVED: (
            "我们已收到您的请求（工单 {{ ticket_id }}）",
            "感谢您就“{{ device }}”联系我们。\n\n您的工单 {{ ticket_id }} 级别为 {{ priority }}。"
            "\n下一步：工程师将查看您的网关提供的证据并与您联系。"
            "{% if expected %}\n预计时间：{{ expected }}{% endif %}",
        ),
        MessageKind.MILESTONE: (
            "工单 {{ ticket_id }}：{{ milestone }}",
            "您的工单 {{ ticket_id }} 有新进展：{{ milestone }}。{% if text %}\n\n{{ text }}{% endif %}",
        ),
        MessageKind.REPLY: ("工单 {{ ticket_id }}：技术支持的回复", "{{ text }}"),
        MessageKind.UPDATE: (
            "工单 {{ ticket_id }}：进度更新",
            "{{ text }}{% if expected %}\n\n下次更新预计：{{ expected }}{% endif %}",
        ),
        MessageKind.RESOLVED: (
            "工单 {{ ticket_id }} 已解决：服务报告",
            "您的工单 {{ ticket_id }} 已解决。\n\n服务报告\n根本原因：{{ root_cause or '详见工单' }}"
            "\n解决方案：{{ solution or '详见工单' }}\n维护建议：{{ advice or '无' }}",
        ),
        MessageKind.SURVEY: (
            "请评价我们的服务（工单 {{ ticket_id }}）",
            "请告诉我们问题是否已解决，以及您的满意度（1 至 5 分）。\n评价链接：{{ rate_link }}",
        ),
        MessageKind.COMPLAINT_ACK: (
            "我们已收到您的投诉（工单 {{ ticket_id }}）",
            "非常抱歉。我们已收到您的投诉，主管将在 24 小时内给出处理方案。",
        ),
        MessageKind.STILL_WORKING: (
            "工单 {{ ticket_id }}：我们仍在处理",
            "我们没有忘记您的工单 {{ ticket_id }}（级别 {{ priority }}），工程师仍在处理中；最迟将于 {{ expected }} 前再次与您联系。",
        ),
    },
}

MILESTONE_WORDS = {
    Language.EN: {
        "root_cause_found": "root cause found",
        "workaround": "a workaround is available",
        "fixed": "fixed",
        "solution_approved": "solution approved",
        "in_progress": "work in progress",
    },
    Language.ZH: {
        "root_cause_found": "已找到根本原因",
        "workaround": "已有临时解决办法",
        "fixed": "已修复",
        "solution_approved": "解决方案已确认",
        "in_progress": "处理中",
    },
}

_env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def render_message(kind: MessageKind, language: Language, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) in the language asked for."""
    subject, body = TEMPLATES[language][kind]
    return (_env.from_string(subject).render(context), _env.from_string(body + _FOOTER[language]).render(context))
