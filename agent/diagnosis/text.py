"""The four-part explanation of each root cause, in plain language, in English and Simplified Chinese.

Customer-facing: no jargon, always what happens, why, what to do, and what happens if nothing is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.models import Explanation, RootCause


@dataclass(frozen=True)
class Facts:
    """What the texts may mention; every field has a neutral default."""

    device: str = "your devices"
    time: str = ""  # "03:00"
    minutes: str = "a few minutes"  # with its unit: "about 4 minutes", "less than a minute", "约 4 分钟"
    count: int = 1
    detail: str = ""


def _fmt(template: str, facts: Facts) -> str:
    return template.format(
        device=facts.device, time=facts.time, minutes=facts.minutes, count=facts.count, detail=facts.detail
    )


# root cause → language → (symptom, root cause, solution, risk)
TEXTS: Mapping[RootCause, Mapping[str, tuple[str, str, str, str]]] = {
    RootCause.ROUTER_SCHEDULED_REBOOT: {
        "en": (
            "{device} stops responding every day around {time}, for {minutes}.",
            "Your home router restarts on a schedule at that time; while it restarts, nothing in the home can reach the internet or the hub.",
            "It recovers by itself. To stop it, move the router's automatic maintenance restart to a time when nobody needs the devices, or switch it off in the router's settings.",
            "Nothing breaks, but remote control and automations fail every night during the restart.",
        ),
        "zh": (
            "{device}每天大约在 {time} 左右无法响应，持续{minutes}。",
            "您家的路由器在这个时间按计划自动重启；重启期间，家中设备无法连接互联网和网关。",
            "它会自行恢复。若要避免，请在路由器设置中把自动维护重启改到无人使用设备的时间，或关闭该功能。",
            "不会造成损坏，但每晚重启期间远程控制和自动化都会失效。",
        ),
    },
    RootCause.ROUTER_REBOOT: {
        "en": (
            "Everything lost its connection for {minutes}.",
            "Your home router restarted (the hub lost the router, name lookups and the internet all at once, and they came back together).",
            "Nothing to do if it was once. If it happens often, check the router's power supply and whether it restarts itself automatically.",
            "Repeated restarts interrupt remote control and automations each time.",
        ),
        "zh": (
            "所有设备失去连接{minutes}。",
            "您家的路由器重启了（网关同时失去了路由器、域名解析和互联网，随后又一起恢复）。",
            "如果只发生一次，无需处理。如果经常发生，请检查路由器电源以及是否设置了自动重启。",
            "反复重启会每次中断远程控制和自动化。",
        ),
    },
    RootCause.WAN_OUTAGE: {
        "en": (
            "Remote control did not work for {minutes}, although devices at home kept working.",
            "The internet connection to your provider was down while your home network was fine.",
            "If it lasts or repeats, contact your internet provider; the router's status page shows the connection state.",
            "Without the internet, the app cannot reach your home and alerts are not delivered.",
        ),
        "zh": (
            "{minutes}内无法远程控制，但家中设备仍在本地正常工作。",
            "家庭网络正常，但到网络运营商的互联网连接中断了。",
            "如果持续或反复出现，请联系您的网络运营商；路由器状态页面会显示连接情况。",
            "没有互联网时，手机应用无法连接到家中，告警也无法送达。",
        ),
    },
    RootCause.DNS_FAILURE: {
        "en": (
            "Cloud services could not be found for {minutes}.",
            "The router's name lookup (DNS) stopped answering while the network and the internet were working.",
            "Restart the router; if it repeats, set a public DNS server in the router's settings.",
            "Apps and devices that need cloud services fail even though the internet works.",
        ),
        "zh": (
            "{minutes}内无法找到云服务。",
            "网络和互联网都正常，但路由器的域名解析（DNS）停止了响应。",
            "请重启路由器；如果反复出现，请在路由器设置中指定公共 DNS 服务器。",
            "即使互联网正常，依赖云服务的应用和设备也会失败。",
        ),
    },
    RootCause.HUB_LINK_DOWN: {
        "en": (
            "The hub was cut off from the network for {minutes}.",
            "The hub's own network connection (cable or Wi-Fi) was lost, while nothing shows that the router restarted.",
            "Check the hub's network cable and its connection to the router, or move it closer to the router if it uses Wi-Fi.",
            "While the hub is cut off, no device can be controlled and nothing is recorded remotely.",
        ),
        "zh": (
            "网关与网络断开{minutes}。",
            "网关自身的网络连接（网线或 Wi-Fi）断开了，而没有迹象表明路由器重启。",
            "请检查网关的网线及与路由器的连接；如果使用 Wi-Fi，请把网关移近路由器。",
            "网关断网期间，所有设备都无法控制。",
        ),
    },
    RootCause.BROKER_DOWN: {
        "en": (
            "Devices stopped reporting to the hub for {minutes}.",
            "The hub's message service (MQTT broker) stopped, so devices could not talk to the hub.",
            "It usually restarts by itself; if it repeats, restart the hub and contact support.",
            "While it is down, automations that depend on these devices do not run.",
        ),
        "zh": (
            "{minutes}内设备停止向网关上报。",
            "网关的消息服务（MQTT 服务）停止了，设备无法与网关通信。",
            "它通常会自动恢复；如果反复出现，请重启网关并联系客服。",
            "服务停止期间，依赖这些设备的自动化不会运行。",
        ),
    },
    RootCause.BROKER_REFUSED: {
        "en": (
            "The hub hears nothing from the devices{detail}.",
            "The hub's message service (MQTT broker) is running but refuses the hub's login, usually because its password or access rules were changed.",
            "Enter the broker's current user name and password in the hub's settings, or allow the hub's account on the broker again.",
            "Until then the hub cannot see, record or diagnose any device, and automations that need it stop.",
        ),
        "zh": (
            "网关收不到任何设备的消息{detail}。",
            "网关的消息服务（MQTT 服务）在运行，但拒绝网关登录，通常是因为它的密码或访问规则被修改了。",
            "请在网关设置中填写消息服务当前的用户名和密码，或在消息服务上重新允许网关的账号。",
            "在此之前，网关无法看到、记录或诊断任何设备，依赖它的自动化也会停止。",
        ),
    },
    RootCause.DEVICE_OFFLINE: {
        "en": (
            "{device} went offline{detail}.",
            "The device itself disappeared while the rest of the network was working: it lost power, was switched off, or lost its Wi-Fi.",
            "Check that {device} has power and is switched on; if it is far from the router, move it closer or add a repeater.",
            "The device cannot be controlled or report anything until it is back.",
        ),
        "zh": (
            "{device}离线了{detail}。",
            "其余网络都正常，但这个设备本身消失了：可能断电、被关掉或失去了 Wi-Fi。",
            "请检查{device}是否通电并已打开；如果离路由器较远，请移近或增加信号放大器。",
            "在恢复之前，该设备无法被控制，也不会上报任何信息。",
        ),
    },
    RootCause.DEVICE_REBOOT: {
        "en": (
            "{device} restarted{detail}.",
            "The device rebooted by itself (its running time started again from zero).",
            "A single restart is harmless. If it keeps happening, check its power supply and update its firmware.",
            "During a restart the device does not respond for a short while.",
        ),
        "zh": (
            "{device}重启了{detail}。",
            "该设备自行重启了（运行时间重新从零开始）。",
            "偶尔一次重启无害。如果反复发生，请检查电源并升级固件。",
            "重启期间设备会短暂无响应。",
        ),
    },
    RootCause.DEVICE_CRASH_LOOP: {
        "en": (
            "{device} restarted {count} times in a short time{detail}.",
            "The device is crashing and restarting again and again.",
            "Update its firmware; if that does not help, power it off for a minute, and replace it if it continues.",
            "A crashing device is unreliable and may miss commands, alarms or schedules.",
        ),
        "zh": (
            "{device}在短时间内重启了 {count} 次{detail}。",
            "该设备在反复崩溃并重启。",
            "请升级固件；如果无效，请断电一分钟后再试，仍然如此请更换设备。",
            "反复崩溃的设备不可靠，可能错过指令、报警或定时任务。",
        ),
    },
    RootCause.WIFI_WEAK_SIGNAL: {
        "en": (
            "{device} has a weak wireless signal{detail}.",
            "The device is too far from the router (or the Zigbee coordinator), or something blocks the signal.",
            "Move the device or the router closer together, or add a repeater between them.",
            "A weak signal causes slow responses and the device dropping offline from time to time.",
        ),
        "zh": (
            "{device}的无线信号较弱{detail}。",
            "设备离路由器（或 Zigbee 协调器）太远，或者信号被遮挡。",
            "请让设备和路由器靠近一些，或在两者之间增加信号中继。",
            "信号弱会导致响应变慢，设备也会不时掉线。",
        ),
    },
    RootCause.HUB_REBOOT: {
        "en": (
            "The hub restarted{detail}.",
            "The hub was restarted in an orderly way (for example for an update or by someone).",
            "Nothing to do unless it happens often.",
            "During the restart, devices cannot be controlled for a few minutes.",
        ),
        "zh": (
            "网关重启了{detail}。",
            "网关被正常重启（例如更新或人为重启）。",
            "除非经常发生，否则无需处理。",
            "重启期间几分钟内无法控制设备。",
        ),
    },
    RootCause.HUB_POWER_LOSS: {
        "en": (
            "The hub lost power{detail}.",
            "The hub stopped without shutting down: its power was cut (power outage, loose plug, or a failing power adapter).",
            "Check the hub's power adapter and plug; consider a small UPS if power cuts are common.",
            "Sudden power loss can corrupt the hub's storage and stops everything until power returns.",
        ),
        "zh": (
            "网关断电了{detail}。",
            "网关未经正常关机就停止了：电源被切断（停电、插头松动或电源适配器故障）。",
            "请检查网关的电源适配器和插头；如果经常停电，建议使用小型不间断电源（UPS）。",
            "突然断电可能损坏网关存储，并在恢复供电前中断所有功能。",
        ),
    },
    RootCause.CLOCK_JUMP: {
        "en": (
            "The hub's clock jumped{detail}.",
            "The hub's time was wrong and was corrected suddenly, typically after a power cut without a time server.",
            "Make sure the hub can reach a time server (NTP) through the router.",
            "Schedules can run at the wrong time and records can be out of order.",
        ),
        "zh": (
            "网关时钟发生了跳变{detail}。",
            "网关时间错误后被突然校正，通常发生在断电且无法连接时间服务器之后。",
            "请确保网关可以通过路由器连接时间服务器（NTP）。",
            "定时任务可能在错误的时间运行，记录顺序也可能错乱。",
        ),
    },
    RootCause.HUB_DEGRADED: {
        "en": (
            "The hub is struggling: {detail}.",
            "The hub itself is short of resources, whatever the network does, so it may lose what it records, answer slowly or stop controlling devices.",
            "Free space on the hub (old logs, recordings or backups), restart it, and keep it in a ventilated place; if it comes back, contact support.",
            "A hub without storage or memory cannot keep its evidence and may stop working altogether.",
        ),
        "zh": (
            "网关运行吃力：{detail}。",
            "网关自身的资源不足，与网络无关，因此它可能丢失记录、响应变慢或无法控制设备。",
            "请清理网关上的空间（旧日志、录像或备份），重启网关，并放在通风处；如果再次出现，请联系客服。",
            "存储或内存耗尽的网关无法保存证据，甚至可能完全停止工作。",
        ),
    },
    RootCause.FIRMWARE_KNOWN_ISSUE: {
        "en": (
            "{device} shows a known firmware problem: {detail}.",
            "This firmware version has a known issue that matches what the device reported.",
            "{detail}",
            "The problem will continue until the firmware is updated or the advice is followed.",
        ),
        "zh": (
            "{device}出现了已知的固件问题：{detail}。",
            "该固件版本存在已知问题，与设备上报的情况一致。",
            "{detail}",
            "在升级固件或按建议处理之前，问题会持续存在。",
        ),
    },
    RootCause.HEALTHY: {
        "en": (
            "Everything works.",
            "No fault was found in the network, the hub or the devices.",
            "Nothing to do.",
            "None.",
        ),
        "zh": ("一切正常。", "网络、网关和设备均未发现故障。", "无需处理。", "无。"),
    },
}


# The same causes while they are still happening (a check fails now, an outage is still open): present tense,
# the most likely cause and what to do right now. ``{minutes}`` is how long it has lasted so far.
ONGOING: Mapping[RootCause, Mapping[str, tuple[str, str, str, str]]] = {
    RootCause.ROUTER_REBOOT: {
        "en": (
            "Right now the router does not answer (for {minutes} so far), so the devices cannot reach the hub or the internet.",
            "The router is probably restarting: the hub lost the router, name lookups and the internet all at once, as happens when a router restarts (or if the hub's cable to it comes loose).",
            "Wait two or three minutes: a restarting router comes back by itself. If it does not, check that the router has power and its lights are on, and that the hub's cable is plugged in.",
            "Until it is back, devices cannot be controlled remotely and automations that need the network do not run.",
        ),
        "zh": (
            "路由器目前没有响应（已持续{minutes}），设备无法连接网关和互联网。",
            "路由器很可能正在重启：网关同时失去了路由器、域名解析和互联网，路由器重启时就是这样（网关的网线松动也会如此）。",
            "请等待两三分钟：正在重启的路由器会自行恢复。如果没有恢复，请检查路由器是否通电、指示灯是否亮起，以及网关的网线是否插好。",
            "恢复之前，设备无法远程控制，依赖网络的自动化也不会运行。",
        ),
    },
    RootCause.HUB_LINK_DOWN: {
        "en": (
            "Right now the hub has no network connection (for {minutes} so far).",
            "The hub's own connection (its cable or Wi-Fi) is down, and nothing shows that the router is restarting.",
            "Check the hub's network cable at both ends and that the router is on; if the hub uses Wi-Fi, move it closer to the router.",
            "Until it is back, the hub cannot see or control the devices.",
        ),
        "zh": (
            "网关目前没有网络连接（已持续{minutes}）。",
            "网关自身的连接（网线或 Wi-Fi）断开了，而且没有迹象表明路由器在重启。",
            "请检查网关网线的两端以及路由器是否开着；如果网关使用 Wi-Fi，请把它移近路由器。",
            "恢复之前，网关无法看到或控制设备。",
        ),
    },
    RootCause.WAN_OUTAGE: {
        "en": (
            "Right now the internet cannot be reached (for {minutes} so far); the home network itself works.",
            "The connection from your router to your internet provider is down.",
            "Check the router's internet light; if your provider has an outage, wait for it, otherwise restart the modem or router.",
            "Until it is back, the app cannot reach your home and alerts are not delivered; devices still work at home.",
        ),
        "zh": (
            "目前无法连接互联网（已持续{minutes}），家庭网络本身正常。",
            "路由器到网络运营商的连接中断了。",
            "请查看路由器的互联网指示灯；如果是运营商故障，请等待恢复，否则请重启光猫或路由器。",
            "恢复之前，手机应用无法连接到家中，告警也无法送达；设备在家中仍可使用。",
        ),
    },
    RootCause.DNS_FAILURE: {
        "en": (
            "Right now names cannot be looked up (for {minutes} so far), although the network and the internet work.",
            "The router's name lookup service (DNS) does not answer.",
            "Restart the router; if it continues, set a public DNS server in the router's settings.",
            "Until it is back, apps and devices that need cloud services fail.",
        ),
        "zh": (
            "目前无法解析域名（已持续{minutes}），但网络和互联网本身正常。",
            "路由器的域名解析服务（DNS）没有响应。",
            "请重启路由器；如果仍然如此，请在路由器设置中指定公共 DNS 服务器。",
            "恢复之前，依赖云服务的应用和设备会失败。",
        ),
    },
    RootCause.BROKER_DOWN: {
        "en": (
            "Right now the hub's message service does not answer (for {minutes} so far), so the devices cannot report to the hub.",
            "The message service on the hub (MQTT broker) has stopped: it crashed or is restarting.",
            "It usually comes back by itself within a minute; if it does not, restart the hub.",
            "Until it is back, automations that depend on these devices do not run.",
        ),
        "zh": (
            "网关的消息服务目前没有响应（已持续{minutes}），设备无法向网关上报。",
            "网关上的消息服务（MQTT 服务）停止了：它崩溃了或正在重启。",
            "它通常会在一分钟内自行恢复；如果没有，请重启网关。",
            "恢复之前，依赖这些设备的自动化不会运行。",
        ),
    },
}


# Normal behaviour reported for context: devices back within their family's normal time after a router restart.
NORMAL_RECONNECT = {
    "en": (
        "{count} devices reconnected normally after the router restart ({device}).",
        "They came back within the time devices of their kind normally take after a router restarts.",
        "Nothing to do.",
        "None.",
    ),
    "zh": (
        "路由器重启后，{count} 个设备已正常重新连接（{device}）。",
        "它们在同类设备通常需要的时间内恢复了连接。",
        "无需处理。",
        "无。",
    ),
}


def explain_normal_reconnect(count: int, names: str) -> tuple[Explanation, dict[str, Explanation]]:
    facts = Facts(device=names, count=count)
    return _explain(NORMAL_RECONNECT["en"], facts), {"zh": _explain(NORMAL_RECONNECT["zh"], facts)}


def explain_now(cause: RootCause, facts: Facts, zh: Facts | None = None) -> tuple[Explanation, dict[str, Explanation]]:
    """A fault still happening, in the present tense (falls back to the past-tense text where there is none)."""
    if cause not in ONGOING:
        return explain_all(cause, facts, zh)
    return _explain(ONGOING[cause]["en"], facts), {"zh": _explain(ONGOING[cause]["zh"], zh or facts)}


def _explain(parts: tuple[str, str, str, str], facts: Facts) -> Explanation:
    symptom, root, solution, risk = parts
    return Explanation(
        symptom=_fmt(symptom, facts),
        root_cause=_fmt(root, facts),
        solution=_fmt(solution, facts),
        risk=_fmt(risk, facts),
    )


def explain(cause: RootCause, facts: Facts, language: str = "en") -> Explanation:
    return _explain(TEXTS[cause][language], facts)


def explain_all(cause: RootCause, facts: Facts, zh: Facts | None = None) -> tuple[Explanation, dict[str, Explanation]]:
    """The English explanation and the translations; ``zh`` facts may carry Chinese wording of the details."""
    return explain(cause, facts, "en"), {"zh": explain(cause, zh or facts, "zh")}
