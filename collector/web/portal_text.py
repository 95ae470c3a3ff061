"""The portal's words in English and Simplified Chinese (the household's language, from its contact record).

Every key exists in every language; a test checks it, and that a Chinese page shows no English phrase."""

from __future__ import annotations

from ..store.contacts import Language


class Texts(dict[str, str]):
    """A language's words; a key it lacks shows as ``⟦key⟧`` (a template's ``t.key`` would otherwise be empty),
    which the screenshot test looks for."""

    def __missing__(self, key: str) -> str:
        return f"⟦{key}⟧"


PORTAL_TEXT: dict[Language, Texts] = {
    Language.EN: Texts(
        {
            "my_tickets": "My tickets",
            "sign_out": "Sign out",
            "your_tickets": "Your tickets",
            "ticket": "Ticket",
            "device": "Device",
            "what_happens": "What happens",
            "status": "Status",
            "opened": "Opened",
            "level": "level",
            "no_tickets": "You have no tickets.",
            "confirm_question": "We believe the problem is fixed. Is it working for you now?",
            "confirm": "Yes, it is fixed",
            "confirm_else": "If not, tell us below.",
            "rate_link": "Rate our service",
            "conversation": "Conversation",
            "support": "support",
            "progress": "progress",
            "you": "you",
            "your_complaint": "your complaint",
            "your_rating": "your rating",
            "your_screenshot": "your screenshot",
            "service_report": "service report",
            "root_cause": "Root cause",
            "solution": "Solution",
            "advice": "Maintenance advice",
            "we_emailed": "we e-mailed you",
            "add_info": "Add information for support",
            "send": "Send",
            "add_image": "Add a screenshot (PNG or JPEG, up to 4 MiB)",
            "upload": "Upload",
            "image_note": "We remove the photo's hidden details (location, camera) before storing it. Support engineers "
            "see what the picture shows: cover passwords first.",
            "complain_open": "Not happy with our service? File a complaint",
            "complain_what": "What went wrong",
            "complain_send": "File complaint",
            "rate_title": "How did we do on ticket",
            "satisfaction": "Satisfaction",
            "recurred": "The problem came back",
            "comment": "Comment",
            "rate_send": "Send rating",
            "rate_closed": "There is nothing to rate on this ticket now. Thank you!",
            "back": "Back to the ticket",
        }
    ),
    Language.ZH: Texts(
        {
            "my_tickets": "我的工单",
            "sign_out": "退出",
            "your_tickets": "您的工单",
            "ticket": "工单",
            "device": "设备",
            "what_happens": "现象",
            "status": "状态",
            "opened": "创建于",
            "level": "级别",
            "no_tickets": "您还没有工单。",
            "confirm_question": "我们认为问题已经解决。现在一切正常吗？",
            "confirm": "是的，已经解决",
            "confirm_else": "如果没有，请在下方告诉我们。",
            "rate_link": "评价我们的服务",
            "conversation": "沟通记录",
            "support": "技术支持",
            "progress": "进度",
            "you": "您",
            "your_complaint": "您的投诉",
            "your_rating": "您的评价",
            "your_screenshot": "您的截图",
            "service_report": "服务报告",
            "root_cause": "根本原因",
            "solution": "解决方案",
            "advice": "维护建议",
            "we_emailed": "我们已发邮件给您",
            "add_info": "向技术支持补充信息",
            "send": "发送",
            "add_image": "添加截图（PNG 或 JPEG，最大 4 MiB）",
            "upload": "上传",
            "image_note": "保存前我们会删除照片中的隐藏信息（位置、相机）。工程师能看到图片内容：请先遮住密码。",
            "complain_open": "对我们的服务不满意？提交投诉",
            "complain_what": "问题所在",
            "complain_send": "提交投诉",
            "rate_title": "请评价工单",
            "satisfaction": "满意度",
            "recurred": "问题再次出现",
            "comment": "意见",
            "rate_send": "提交评价",
            "rate_closed": "此工单目前无需评价。谢谢！",
            "back": "返回工单",
        }
    ),
}

# What a customer reads for each state: plain words, not the desk's vocabulary.
STATE_WORDS: dict[Language, dict[str, str]] = {
    Language.EN: {
        "new": "Received",
        "triaged": "Received",
        "diagnosing": "We are investigating",
        "solution": "Fix in progress",
        "awaiting_confirmation": "Please confirm the fix",
        "resolved": "Resolved",
        "follow_up": "Resolved",
        "closed": "Closed",
        "waiting_customer": "Waiting for your reply",
        "waiting_parts": "Waiting for parts",
    },
    Language.ZH: {
        "new": "已受理",
        "triaged": "已受理",
        "diagnosing": "正在排查",
        "solution": "正在修复",
        "awaiting_confirmation": "请确认是否已修复",
        "resolved": "已解决",
        "follow_up": "已解决",
        "closed": "已关闭",
        "waiting_customer": "等待您的回复",
        "waiting_parts": "等待配件",
    },
}
