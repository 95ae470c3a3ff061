"""The page's own words, in English and Simplified Chinese (the findings bring their own translations)."""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Home check", "lead": "Something not working? Press the button: we check your network, the hub and your devices.",
        "button": "Check my home", "again": "Check again", "what": "What happens", "why": "Why", "todo": "What to do",
        "risk": "If nothing is done", "normal": "Also seen, and normal", "healthy": "Everything works.",
        "send_label": "Send this result to support and open a ticket", "send": "Send to support",
        "ticket": "Ticket number", "remote": "Remote access for support", "off": "Off", "ask": "Ask me", "allowed": "Allowed",
        "steps": {"starting": "Starting…", "network": "Checking the router, the internet and the hub…",
                  "devices": "Listening to your devices…", "analysis": "Working out what happened…", "done": "Done",
                  "failed": "The check failed"},
    },
    "zh": {
        "title": "家庭检测", "lead": "设备不好用？按下按钮：我们会检查您的网络、网关和设备。",
        "button": "检测我的家", "again": "重新检测", "what": "现象", "why": "原因", "todo": "解决办法", "risk": "如不处理",
        "normal": "其他情况（正常）", "healthy": "一切正常。", "send_label": "将结果发送给客服并创建工单",
        "send": "发送给客服", "ticket": "工单号", "remote": "允许客服远程查看", "off": "关闭", "ask": "每次询问", "allowed": "允许",
        "steps": {"starting": "正在开始…", "network": "正在检查路由器、互联网和网关…", "devices": "正在检测您的设备…",
                  "analysis": "正在分析原因…", "done": "完成", "failed": "检测失败"},
    },
}


def pick_language(configured: str, accept_language: str) -> str:
    """The configured language, or the browser's first supported one, or English."""
    if configured in TEXTS:
        return configured
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"
