"""Every word the one-click page can show, in English and Simplified Chinese.

The findings bring their own four-part explanations (``agent.diagnosis.text``); the page adds its own headline
with time and count, the present-tense cards of checks failing right now, the checklist of what was found
fine, device descriptions, signal words, the sending and remote-access messages. A text with a count is a
``Plural``: English has one and other forms, Chinese one form for every count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.models import RootCause


@dataclass(frozen=True)
class Plural:
    one: str
    other: str

    def pick(self, count: int) -> str:
        return self.one if count == 1 else self.other


def say(texts: dict[str, Any], key: str, count: int | None = None, **values: Any) -> str:
    """``texts[key]`` with its values filled in; a ``Plural`` takes the form for ``count``."""
    template = texts[key]
    if isinstance(template, Plural):
        template = template.pick(count if count is not None else 1)
    return str(template).format(count=count, **values)


# Root causes the page words itself (device names, time and count come from the finding's fields); the others
# keep the finding's own symptom, which carries details only the diagnosis knows (what the hub is short of,
# the firmware issue, why the broker refuses). ``{who}`` is a device description, ``{count}`` the repeats.
_HEADLINES_EN: dict[RootCause, Plural] = {
    RootCause.ROUTER_REBOOT: Plural(
        "Your router restarted; everything lost its connection for a while.",
        "Your router restarted {count} times; everything lost its connection each time.",
    ),
    RootCause.ROUTER_SCHEDULED_REBOOT: Plural(
        "Your router restarts on a schedule every day.",
        "Your router restarts on a schedule every day ({count} times seen).",
    ),
    RootCause.WAN_OUTAGE: Plural(
        "Your internet connection was down; devices at home kept working.",
        "Your internet connection was down {count} times; devices at home kept working.",
    ),
    RootCause.DNS_FAILURE: Plural(
        "Your router could not find internet services by name for a while.",
        "Your router could not find internet services by name, {count} times.",
    ),
    RootCause.HUB_LINK_DOWN: Plural(
        "Your hub lost its own network connection.", "Your hub lost its own network connection {count} times."
    ),
    RootCause.BROKER_DOWN: Plural(
        "The hub's message service stopped; devices could not report to the hub.",
        "The hub's message service stopped {count} times; devices could not report to the hub.",
    ),
    RootCause.DEVICE_OFFLINE: Plural("{who} went offline.", "{who} went offline {count} times."),
    RootCause.DEVICE_REBOOT: Plural("{who} restarted by itself.", "{who} restarted by itself {count} times."),
    RootCause.DEVICE_CRASH_LOOP: Plural(
        "{who} keeps crashing and restarting.", "{who} keeps crashing and restarting ({count} times)."
    ),
    RootCause.WIFI_WEAK_SIGNAL: Plural("{who} has a {signal} signal.", "{who} has a {signal} signal."),
    RootCause.HUB_REBOOT: Plural("The hub was restarted.", "The hub was restarted {count} times."),
    RootCause.HUB_POWER_LOSS: Plural("The hub lost power.", "The hub lost power {count} times."),
    RootCause.BROKER_REFUSED: Plural(
        "The hub hears nothing from your devices: its message service refuses the hub's login.",
        "The hub hears nothing from your devices: its message service refused the hub's login {count} times.",
    ),
    RootCause.CLOCK_JUMP: Plural(
        "The hub's clock was corrected suddenly.", "The hub's clock was corrected suddenly, {count} times."
    ),
}
_HEADLINES_ZH: dict[RootCause, str] = {
    RootCause.ROUTER_REBOOT: "您家的路由器重启了{times}，期间所有设备都断开了连接。",
    RootCause.ROUTER_SCHEDULED_REBOOT: "您家的路由器每天按计划自动重启。",
    RootCause.WAN_OUTAGE: "您家的互联网连接中断了{times}，家中设备仍在本地正常工作。",
    RootCause.DNS_FAILURE: "路由器有一段时间无法按名称找到互联网服务{times}。",
    RootCause.HUB_LINK_DOWN: "网关自身的网络连接断开了{times}。",
    RootCause.BROKER_DOWN: "网关的消息服务停止了{times}，设备无法向网关上报。",
    RootCause.DEVICE_OFFLINE: "{who}离线了{times}。",
    RootCause.DEVICE_REBOOT: "{who}自行重启了{times}。",
    RootCause.DEVICE_CRASH_LOOP: "{who}在反复崩溃并重启{times}。",
    RootCause.WIFI_WEAK_SIGNAL: "{who}的信号{signal}。",
    RootCause.HUB_REBOOT: "网关被重启了{times}。",
    RootCause.HUB_POWER_LOSS: "网关断电了{times}。",
    RootCause.BROKER_REFUSED: "网关收不到任何设备的消息：网关的消息服务拒绝网关登录{times}。",
    RootCause.CLOCK_JUMP: "网关的时钟被突然校正了{times}。",
}

# The checks of the one click, failing right now: what fails, in the present tense, and what to do now. The
# past is not concluded from a check that fails at this moment: the answer is known once it is back.
_NOW_EN = {
    "hub_link": (
        "Your hub has no network connection right now.",
        "If you are restarting the router, wait two minutes and check again; otherwise check that the hub's network cable is plugged in at both ends (or, on Wi-Fi, that the router is on).",
    ),
    "gateway": (
        "Your hub cannot reach your router right now.",
        "If the router is restarting, wait two minutes and check again; otherwise check that the router is switched on and check the hub's cable.",
    ),
    "internet": (
        "Your home has no internet connection right now. Devices at home keep working, but the app cannot reach them from outside.",
        "If the router is restarting, wait two minutes and check again; if it lasts, look at the router's internet light and contact your internet provider.",
    ),
    "dns": (
        "Your router cannot find internet services by name right now, although the internet answers.",
        "Wait two minutes and check again; if it lasts, restart the router.",
    ),
    "broker": (
        "The hub's message service is not answering right now, so devices cannot report to the hub.",
        "Wait a minute and check again; if it lasts, restart the hub.",
    ),
}
_NOW_ZH = {
    "hub_link": (
        "网关现在没有网络连接。",
        "如果您正在重启路由器，请等两分钟再检测一次；否则请检查网关网线两端是否插好（如果使用 Wi-Fi，请确认路由器已开启）。",
    ),
    "gateway": (
        "网关现在无法连接到您的路由器。",
        "如果路由器正在重启，请等两分钟再检测一次；否则请确认路由器已开机，并检查网关的网线。",
    ),
    "internet": (
        "您家现在没有互联网连接。家中设备仍在本地工作，但手机应用在外面无法连接它们。",
        "如果路由器正在重启，请等两分钟再检测一次；如果持续，请查看路由器的互联网指示灯并联系网络运营商。",
    ),
    "dns": (
        "路由器现在无法按名称找到互联网服务，但互联网本身可以连通。",
        "请等两分钟再检测一次；如果持续，请重启路由器。",
    ),
    "broker": ("网关的消息服务现在没有响应，设备无法向网关上报。", "请等一分钟再检测一次；如果持续，请重启网关。"),
}

# What was checked and found fine (the healthy answer is a checklist), and the same items when they fail.
_CHECKED_EN = {
    "hub_link": ("The hub's network connection works", "The hub's network connection does not work"),
    "gateway": ("Your router answers", "Your router does not answer"),
    "internet": ("The internet works", "The internet does not work"),
    "dns": ("Finding internet services by name works", "Finding internet services by name does not work"),
    "broker": ("The hub's message service works", "The hub's message service does not answer"),
    "hub": ("The hub has enough storage and memory and is not too hot", "The hub is short of resources"),
}
_CHECKED_ZH = {
    "hub_link": ("网关的网络连接正常", "网关的网络连接不正常"),
    "gateway": ("路由器响应正常", "路由器没有响应"),
    "internet": ("互联网连接正常", "互联网连接不正常"),
    "dns": ("按名称查找互联网服务正常", "按名称查找互联网服务不正常"),
    "broker": ("网关的消息服务正常", "网关的消息服务没有响应"),
    "hub": ("网关的存储、内存和温度都正常", "网关资源不足"),
}

# How a device is described when it has no name of its own: by its family, never by its raw id.
_FAMILY_EN = {
    "shelly": "your Shelly relay",
    "tasmota": "your Tasmota switch",
    "zigbee": "your Zigbee device",
    "esphome": "your ESPHome device",
    "homekit": "your HomeKit device",
    "homeassistant": "your Home Assistant device",
    "": "one of your devices",
}
_FAMILY_ZH = {
    "shelly": "您的 Shelly 继电器",
    "tasmota": "您的 Tasmota 开关",
    "zigbee": "您的 Zigbee 设备",
    "esphome": "您的 ESPHome 设备",
    "homekit": "您的 HomeKit 设备",
    "homeassistant": "您的 Home Assistant 设备",
    "": "您的一个设备",
}

# Why a signal is weak, said only for the kind of radio the device has.
_WEAK_WHY_EN = {
    "wifi": "The device is too far from your Wi-Fi router, or walls or metal block the signal.",
    "zigbee": "The device is too far from the hub's Zigbee radio or from a mains-powered Zigbee device that relays, or something blocks the signal.",
}
_WEAK_WHY_ZH = {
    "wifi": "设备离 Wi-Fi 路由器太远，或者墙壁、金属遮挡了信号。",
    "zigbee": "设备离网关的 Zigbee 无线模块或可转发信号的插电 Zigbee 设备太远，或者信号被遮挡。",
}
_WEAK_TODO_EN = {
    "wifi": "Move the device or the Wi-Fi router closer together, or add a Wi-Fi repeater between them.",
    "zigbee": "Move the device closer to the hub, or add a mains-powered Zigbee device (a smart plug) between them: it relays the signal.",
}
_WEAK_TODO_ZH = {
    "wifi": "请让设备和 Wi-Fi 路由器靠近一些，或在两者之间增加 Wi-Fi 信号放大器。",
    "zigbee": "请把设备移近网关，或在两者之间增加一个插电的 Zigbee 设备（例如智能插座），它会转发信号。",
}

# A condition that still holds, said in the present tense.
_STILL_EN: dict[RootCause, Plural] = {
    RootCause.DEVICE_OFFLINE: Plural(
        "{who} is offline right now.", "{who} is offline right now (it went offline {count} times)."
    ),
}
_STILL_ZH: dict[RootCause, str] = {
    RootCause.DEVICE_OFFLINE: "{who}现在离线{times}。",
}

TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Home check",
        "lead": "Something not working? Press the button: we check your network, the hub and your devices.",
        "button": "Check my home",
        "again": "Check again",
        "why": "Why",
        "todo": "What to do",
        "risk": "If nothing is done",
        "normal": "Also seen, and normal",
        "checked": "What we checked",
        "details": "Details",
        "now_label": "Right now",
        "healed_label": "Happened, working again",
        "normal_label": "Normal",
        "healthy_head": "Everything we checked works.",
        "healthy_help": "Something still feels wrong? Describe it below and send it to support.",
        "now_unknown": "We can say more once it works again: then check again and we will tell you what happened.",
        "now_risk": "While this lasts, devices cannot be controlled from outside and automations that need the internet or the hub may not run.",
        "working_again": "It works again now.",
        "send_title": "Ask support for help",
        "note_label": "In your own words (optional): what does not work, since when?",
        "send_what": "What is sent: this result, the hub's recent records of the network and the devices, and the device list, with passwords removed and addresses, names and network names replaced, so support can see what happened without you explaining it.",
        "send_label": "Send this to support and open a ticket",
        "send": "Send to support",
        "steps": {
            "starting": "Starting…",
            "network": "Checking the router, the internet and the hub…",
            "devices": "Listening to your devices…",
            "analysis": "Working out what happened…",
            "done": "Done",
            "failed": "The check could not finish",
        },
        "check_failed": "The check could not finish. Please try again in a minute.",
        "sending": "Sending…",
        "sent": "Sent. Your ticket number is {ticket}. Support will contact you.",
        "joined": "Added to your open ticket {ticket}; support sees it there.",
        "already": "This result was already sent (ticket {ticket}). Check again to send a new one.",
        "queued": "Saved — it will be sent automatically when your internet is back. This page will show the ticket number then.",
        "queued_provisional": "Saved — it will be sent automatically when your internet is back. It is marked as sent during the outage; what the hub records next is added to it.",
        "not_enrolled": "This hub is not connected to a support account yet, so nothing can be sent. Ask your installer.",
        "send_refused": "Support's server did not accept this report. Please call support.",
        "send_failed": "It could not be saved on the hub. Please call support.",
        "remote": "Remote access for support",
        "remote_lead": "Support can look at your hub to help you faster. You decide.",
        "remote_sees": "Support can see: your device list (names, online or not, signal, software version), the hub's recent records of the network and the devices, and can run this same check. Not: cameras, microphones, passwords, or anything outside the hub.",
        "off": "Off",
        "off_line": "Support cannot look at your hub.",
        "ask": "Ask me",
        "ask_line": "Support must ask first; you allow it here, for a limited time.",
        "grant": "Allow for 1 hour",
        "grant_line": "Support may look for the next hour; then it is off again by itself.",
        "allowed": "Always allowed",
        "allowed_line": "Support may look at any time, until you change it here.",
        "confirm_grant": "Allow support to look at your hub for the next hour?",
        "confirm_allowed": "Allow support to look at your hub at any time, until you turn it off?",
        "yes": "Yes, allow",
        "cancel": "Cancel",
        "consent_off": "Remote access is off.",
        "consent_ask": "Support must ask you first.",
        "consent_until": "Support may look until {until}.",
        "consent_allowed": "Support may look at any time.",
        "pair_title": "Open the home check on this phone",
        "pair_lead": "Enter the pairing code your installer gave you.",
        "pair_button": "Open",
        "pair_wrong": "That code is not valid. Ask for a new one.",
        "today": "today {time}",
        "yesterday": "yesterday {time}",
        "date": "{day} {month} {time}",
        "months": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        "for": "{when}, for {duration}",
        "since": "since {when} ({duration} so far)",
        "at": "{when}",
        "repeats": "last {last}; first {first}",
        "checked_at": "checked {when}",
        "daily": "every day around {time}; last {last}",
        "seconds": Plural("{count} second", "{count} seconds"),
        "minutes": Plural("{count} minute", "{count} minutes"),
        "hours": Plural("{count} hour", "{count} hours"),
        "hours_minutes": "{hours} {minutes}",
        "in_last_hour": "in the last hour",
        "in_last_day": "in the last day",
        "in_last_days": Plural("in the last day", "in the last {count} days"),
        "devices_online": Plural("{count} device is online", "{count} devices are online"),
        "devices_offline": Plural("{count} device is offline", "{count} devices are offline"),
        "and_others": Plural("{first} and {count} other device", "{first} and {count} other devices"),
        "two": "{first} and {second}",
        "your_devices": "Your devices",
        "in_room": "the device in the {room}",
        "signal": {"good": "good", "fair": "fair", "weak": "weak"},
        "signal_detail": "Signal strength: {figure}",
        "link_quality": "link quality {value} of 255",
        "reported_reason": "Reason the device gave: “{reason}”",
        "reconnected": "{who} reconnected normally after the router restart.",
        "headlines": _HEADLINES_EN,
        "now": _NOW_EN,
        "checked_items": _CHECKED_EN,
        "families": _FAMILY_EN,
        "weak_why": _WEAK_WHY_EN,
        "weak_todo": _WEAK_TODO_EN,
        "still": _STILL_EN,
    },
    "zh": {
        "title": "家庭检测",
        "lead": "设备不好用？按下按钮：我们会检查您的网络、网关和设备。",
        "button": "检测我的家",
        "again": "重新检测",
        "why": "原因",
        "todo": "解决办法",
        "risk": "如不处理",
        "normal": "其他情况（正常）",
        "checked": "我们检查了什么",
        "details": "详情",
        "now_label": "当前",
        "healed_label": "曾发生，已恢复",
        "normal_label": "正常",
        "healthy_head": "检查的各项都正常。",
        "healthy_help": "仍然觉得哪里不对？请在下面描述并发送给客服。",
        "now_unknown": "恢复之后我们才能判断原因：届时请再检测一次，我们会告诉您发生了什么。",
        "now_risk": "在此期间，无法从外面控制设备，依赖互联网或网关的自动化也可能不运行。",
        "working_again": "现在已经恢复正常。",
        "send_title": "请客服帮忙",
        "note_label": "用您自己的话描述（可选）：哪里不好用？从什么时候开始？",
        "send_what": "发送内容：本次结果、网关最近的网络和设备记录以及设备列表；密码已删除，地址、名称和网络名称已替换，客服无需您解释即可了解发生了什么。",
        "send_label": "发送给客服并创建工单",
        "send": "发送给客服",
        "steps": {
            "starting": "正在开始…",
            "network": "正在检查路由器、互联网和网关…",
            "devices": "正在检测您的设备…",
            "analysis": "正在分析原因…",
            "done": "完成",
            "failed": "检测未能完成",
        },
        "check_failed": "检测未能完成，请一分钟后再试。",
        "sending": "正在发送…",
        "sent": "已发送。您的工单号是 {ticket}，客服会与您联系。",
        "joined": "已添加到您未关闭的工单 {ticket}，客服会在那里看到。",
        "already": "本次结果已经发送过（工单 {ticket}）。如需发送新的结果，请重新检测。",
        "queued": "已保存——互联网恢复后会自动发送，届时本页会显示工单号。",
        "queued_provisional": "已保存——互联网恢复后会自动发送。它会被标记为故障期间发送，网关之后的记录会补充进去。",
        "not_enrolled": "这个网关还没有连接到客服账户，因此无法发送。请联系安装人员。",
        "send_refused": "客服服务器没有接受这份报告，请致电客服。",
        "send_failed": "无法保存在网关上，请致电客服。",
        "remote": "允许客服远程查看",
        "remote_lead": "客服可以查看您的网关，更快地帮助您。由您决定。",
        "remote_sees": "客服可以看到：设备列表（名称、是否在线、信号、软件版本）、网关最近的网络和设备记录，并可以运行同样的检测。看不到：摄像头、麦克风、密码，以及网关以外的任何内容。",
        "off": "关闭",
        "off_line": "客服无法查看您的网关。",
        "ask": "每次询问",
        "ask_line": "客服需要先询问；您在这里允许，且有时间限制。",
        "grant": "允许 1 小时",
        "grant_line": "接下来一小时内客服可以查看，之后自动关闭。",
        "allowed": "始终允许",
        "allowed_line": "客服随时可以查看，直到您在这里更改。",
        "confirm_grant": "允许客服在接下来一小时内查看您的网关吗？",
        "confirm_allowed": "允许客服随时查看您的网关，直到您关闭吗？",
        "yes": "是的，允许",
        "cancel": "取消",
        "consent_off": "远程查看已关闭。",
        "consent_ask": "客服需要先询问您。",
        "consent_until": "客服可以查看到 {until}。",
        "consent_allowed": "客服随时可以查看。",
        "pair_title": "在这部手机上打开家庭检测",
        "pair_lead": "请输入安装人员给您的配对码。",
        "pair_button": "打开",
        "pair_wrong": "配对码无效，请索取新的配对码。",
        "today": "今天 {time}",
        "yesterday": "昨天 {time}",
        "date": "{month}{day}日 {time}",
        "months": [f"{n}月" for n in range(1, 13)],
        "for": "{when}，持续 {duration}",
        "since": "从 {when} 起（已持续 {duration}）",
        "at": "{when}",
        "repeats": "最近一次 {last}；第一次 {first}",
        "checked_at": "检测于 {when}",
        "daily": "每天约 {time}；最近一次 {last}",
        "seconds": "{count} 秒",
        "minutes": "{count} 分钟",
        "hours": "{count} 小时",
        "hours_minutes": "{hours} {minutes}",
        "in_last_hour": "在过去一小时内",
        "in_last_day": "在过去一天内",
        "in_last_days": "在过去 {count} 天内",
        "devices_online": "{count} 个设备在线",
        "devices_offline": "{count} 个设备离线",
        "and_others": "{first}和另外 {count} 个设备",
        "two": "{first}和{second}",
        "your_devices": "您的设备",
        "in_room": "{room}的设备",
        "signal": {"good": "良好", "fair": "一般", "weak": "较弱"},
        "signal_detail": "信号强度：{figure}",
        "link_quality": "连接质量 {value}/255",
        "reported_reason": "设备上报的原因（原文）：“{reason}”",
        "reconnected": "{who}在路由器重启后正常重新连接。",
        "headlines": _HEADLINES_ZH,
        "now": _NOW_ZH,
        "checked_items": _CHECKED_ZH,
        "families": _FAMILY_ZH,
        "weak_why": _WEAK_WHY_ZH,
        "weak_todo": _WEAK_TODO_ZH,
        "still": _STILL_ZH,
    },
}

# What the browser needs for the static parts of the page (the answer itself comes rendered from the server).
BROWSER_KEYS = (
    "again",
    "why",
    "todo",
    "risk",
    "normal",
    "checked",
    "details",
    "now_label",
    "healed_label",
    "normal_label",
    "healthy_head",
    "sending",
    "yes",
    "cancel",
    "confirm_grant",
    "confirm_allowed",
    "check_failed",
)


def browser_texts(language: str) -> dict[str, str]:
    return {key: TEXTS[language][key] for key in BROWSER_KEYS}


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
