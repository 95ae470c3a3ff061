"""Customer messages in English and Simplified Chinese: per kind a subject, a plain-text body and an HTML body
(sent together as multipart/alternative; the HTML one in a shared layout, everything in it escaped).

Rendered once when the job is planned, so a retried job sends exactly the text first planned. Times are in the
household's time zone (``local`` in the context).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import jinja2
from markupsafe import Markup

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

# Mail clients drop style sheets: the HTML bodies style their table cells and button inline with these.
_STYLES = {
    "cell": Markup('style="text-align:left;padding:.3rem .8rem .3rem 0;vertical-align:top"'),
    "button": Markup(
        'style="display:inline-block;background:#2457d6;color:#fff;padding:.6rem 1.2rem;border-radius:.3rem"'
    ),
}

HTML: dict[Language, dict[MessageKind, str]] = {
    Language.EN: {
        MessageKind.RECEIVED: """<p>Thank you for contacting us about “{{ device }}”.</p>
<table><tr><th {{ cell }}>Ticket</th><td {{ cell }}>{{ ticket_id }}</td></tr>
<tr><th {{ cell }}>Level</th><td {{ cell }}>{{ priority }}</td></tr>
<tr><th {{ cell }}>Next step</th><td {{ cell }}>An engineer reviews the evidence from your hub and contacts you.</td></tr>
{% if expected %}<tr><th {{ cell }}>Expected by</th><td {{ cell }}>{{ expected }}</td></tr>{% endif %}</table>""",
        MessageKind.MILESTONE: """<p>Progress on your ticket {{ ticket_id }}: <strong>{{ milestone }}</strong>.</p>
{% if text %}<p style="white-space:pre-wrap">{{ text }}</p>{% endif %}""",
        MessageKind.REPLY: """<p>A reply from support on your ticket {{ ticket_id }}:</p>
<blockquote style="white-space:pre-wrap;border-left:4px solid #2a9d5b;margin:0;padding:.4rem .8rem">{{ text }}</blockquote>""",
        MessageKind.UPDATE: """<p style="white-space:pre-wrap">{{ text }}</p>
{% if expected %}<p>Next update expected by: <strong>{{ expected }}</strong></p>{% endif %}""",
        MessageKind.RESOLVED: """<p>Your ticket {{ ticket_id }} is resolved.</p>
<h2 style="font-size:1.05rem">Service report</h2>
<table><tr><th {{ cell }}>Root cause</th><td {{ cell }}>{{ root_cause or "see the ticket" }}</td></tr>
<tr><th {{ cell }}>Solution</th><td {{ cell }}>{{ solution or "see the ticket" }}</td></tr>
<tr><th {{ cell }}>Maintenance advice</th><td {{ cell }}>{{ advice or "none" }}</td></tr></table>""",
        MessageKind.SURVEY: """<p>We would like to know whether the problem is gone and how satisfied you are (1 to 5).</p>
<p><a href="{{ rate_link }}" {{ button }}>Rate our service</a></p>
<p style="color:#555">If the button does not open: {{ rate_link }}</p>""",
        MessageKind.COMPLAINT_ACK: """<p>We are sorry. Your complaint was received and a manager will answer within
24 hours with a plan.</p>""",
        MessageKind.STILL_WORKING: """<p>We have not forgotten your ticket {{ ticket_id }} (level {{ priority }}). It is
being worked on; you will hear from us again by <strong>{{ expected }}</strong> at the latest.</p>""",
    },
    Language.ZH: {
        MessageKind.RECEIVED: """<p>感谢您就“{{ device }}”联系我们。</p>
<table><tr><th {{ cell }}>工单</th><td {{ cell }}>{{ ticket_id }}</td></tr>
<tr><th {{ cell }}>级别</th><td {{ cell }}>{{ priority }}</td></tr>
<tr><th {{ cell }}>下一步</th><td {{ cell }}>工程师将查看您的网关提供的证据并与您联系。</td></tr>
{% if expected %}<tr><th {{ cell }}>预计时间</th><td {{ cell }}>{{ expected }}</td></tr>{% endif %}</table>""",
        MessageKind.MILESTONE: """<p>您的工单 {{ ticket_id }} 有新进展：<strong>{{ milestone }}</strong>。</p>
{% if text %}<p style="white-space:pre-wrap">{{ text }}</p>{% endif %}""",
        MessageKind.REPLY: """<p>技术支持对您的工单 {{ ticket_id }} 的回复：</p>
<blockquote style="white-space:pre-wrap;border-left:4px solid #2a9d5b;margin:0;padding:.4rem .8rem">{{ text }}</blockquote>""",
        MessageKind.UPDATE: """<p style="white-space:pre-wrap">{{ text }}</p>
{% if expected %}<p>下次更新预计：<strong>{{ expected }}</strong></p>{% endif %}""",
        MessageKind.RESOLVED: """<p>您的工单 {{ ticket_id }} 已解决。</p>
<h2 style="font-size:1.05rem">服务报告</h2>
<table><tr><th {{ cell }}>根本原因</th><td {{ cell }}>{{ root_cause or "详见工单" }}</td></tr>
<tr><th {{ cell }}>解决方案</th><td {{ cell }}>{{ solution or "详见工单" }}</td></tr>
<tr><th {{ cell }}>维护建议</th><td {{ cell }}>{{ advice or "无" }}</td></tr></table>""",
        MessageKind.SURVEY: """<p>请告诉我们问题是否已解决，以及您的满意度（1 至 5 分）。</p>
<p><a href="{{ rate_link }}" {{ button }}>评价我们的服务</a></p>
<p style="color:#555">如果按钮无法打开：{{ rate_link }}</p>""",
        MessageKind.COMPLAINT_ACK: "<p>非常抱歉。我们已收到您的投诉，主管将在 24 小时内给出处理方案。</p>",
        MessageKind.STILL_WORKING: """<p>我们没有忘记您的工单 {{ ticket_id }}（级别 {{ priority }}），工程师仍在处理中；最迟将于
<strong>{{ expected }}</strong> 前再次与您联系。</p>""",
    },
}

_LAYOUT = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family:system-ui,sans-serif;color:#1d2330;max-width:40rem;margin:1rem auto">
<h1 style="font-size:1.2rem">{{ subject }}</h1>
{{ content }}
<p style="margin-top:2rem;color:#555"><a href="{{ link }}">{{ words.ticket_link }}</a><br>{{ words.signature }}</p>
</body></html>"""
_LAYOUT_WORDS = {
    Language.EN: {"ticket_link": "Your ticket", "signature": "homediag support"},
    Language.ZH: {"ticket_link": "查看您的工单", "signature": "homediag 技术支持"},
}

_env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
_html_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def render_message(kind: MessageKind, language: Language, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, plain-text body, HTML body) in the language asked for."""
    subject, body = TEMPLATES[language][kind]
    subject = _env.from_string(subject).render(context)
    content = _html_env.from_string(HTML[language][kind]).render(context, **_STYLES)
    html = _html_env.from_string(_LAYOUT).render(
        context, subject=subject, content=Markup(content), lang=language.value, words=_LAYOUT_WORDS[language]
    )
    return subject, _env.from_string(body + _FOOTER[language]).render(context), html
