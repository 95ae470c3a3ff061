"""The desk's words in Simplified Chinese, keyed by their English text (the templates are written in English).

``_("…")`` in a template looks a phrase up here; ``word(value)`` names a value of the data (a state, a target, a
role…). Every phrase of the templates is a key — a test extracts them — so a Chinese page has no English left but
what people wrote. Phrases are trusted markup (``%`` fills them with escaped values); anything that is not a key
is escaped, so data can never turn into markup on the way through (and shows as ``⟦…⟧`` on a Chinese page,
for the screenshot test to find).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from markupsafe import Markup, escape

from ..store.contacts import Language

PHRASES_ZH: dict[str, str] = {
    # header, sign-in, errors
    "homediag support": "homediag 技术支持",
    "support": "技术支持",
    "My tickets": "我的工单",
    "Queue": "工单队列",
    "Assigned to me": "分配给我的",
    "New ticket": "新建工单",
    "Fleet": "设备群",
    "Deliveries": "投递记录",
    "Reports": "报表",
    "Search tickets": "搜索工单",
    "Sign out": "退出",
    "Sign in": "登录",
    "Name": "用户名",
    "Password": "密码",
    "Wrong name or password": "用户名或密码错误",
    "Too many failed sign-ins. Try again in %(seconds)s seconds.": "登录失败次数过多，请在 %(seconds)s 秒后重试。",
    "Back to the start page": "返回首页",
    "That request was not understood": "无法理解该请求",
    "Please sign in": "请登录",
    "Not available to you": "您无权访问此页面",
    "Not found": "未找到",
    "Not allowed here": "此处不允许该操作",
    "Someone changed this meanwhile": "其他人刚刚修改了此内容",
    "Too large": "内容过大",
    "Too many attempts": "尝试次数过多",
    "Something went wrong": "出现问题",
    "%(field)s must be one of: %(values)s": "%(field)s必须是以下之一：%(values)s",
    "The form was refused:": "表单未被接受：",
    # refusals the pages give (their messages are looked up as they are raised)
    "CSRF token missing or wrong": "表单令牌缺失或错误，请重新打开页面再试",
    "bulk changes are for engineers and admins": "批量修改仅限工程师和管理员",
    "live state is for engineers and admins": "实时状态仅限工程师和管理员",
    "partners work on assigned tickets; they do not open them": "合作伙伴只处理分配给他们的工单，不能新建工单",
    "reports are for engineers and admins": "报表仅限工程师和管理员",
    "the delivery log is for admins": "投递记录仅限管理员",
    "the fleet view is for the support organisation": "设备群视图仅限技术支持团队",
    "this customer account belongs to no household; support can fix that": "此客户账号未关联家庭，请联系技术支持",
    "no such language": "没有这种语言",
    "no hub of this household is online": "此家庭没有在线的网关",
    "no such bundle": "没有这个证据包",
    "no such file in the bundle": "证据包中没有这个文件",
    "no such image on this ticket": "此工单中没有这张图片",
    "no such ticket": "没有这个工单",
    "that bundle is not on this ticket": "该证据包不属于此工单",
    "choose an image to add": "请选择要添加的图片",
    "choose tickets and 'assign' or 'move'": "请选择工单以及“分配”或“转移状态”",
    "a time must look like 2026-11-24T03:00": "时间的格式应为 2026-11-24T03:00",
    "the complaint must be a number": "请选择投诉",
    "the target ticket must be a number": "目标工单号必须是数字",
    "each ticket must be a number": "每个工单号都必须是数字",
    # queue and bulk changes
    "Level": "级别",
    "all": "全部",
    "Group": "组",
    "group": "组",
    "State": "状态",
    "all open": "所有未关闭",
    "assigned to me": "分配给我的",
    "Filter": "筛选",
    "Household": "家庭",
    "Device": "设备",
    "Symptom": "现象",
    "Assignee": "处理人",
    "Next deadline": "下一个期限",
    "No open tickets.": "没有未关闭的工单。",
    "select ticket %(id)s": "选择工单 %(id)s",
    "Selected tickets:": "所选工单：",
    "assign to person": "分配给个人",
    "move to": "转到",
    "Apply": "执行",
    "Bulk change": "批量修改",
    "assign": "分配",
    "move": "转移状态",
    "Outcome": "结果",
    "done": "已完成",
    "Back to the queue": "返回工单队列",
    # the ticket
    "Ticket": "工单",
    "partner": "合作伙伴",
    "Intake": "受理信息",
    "Customer": "客户",
    "When": "发生时间",
    "from": "自",
    "Channel": "渠道",
    "Opened": "创建于",
    "Environment": "环境",
    "Business impact": "业务影响",
    "Service levels": "服务级别",
    "Diagnosis": "诊断",
    "%(pct)s %% confidence · %(n)s evidence events": "置信度 %(pct)s%% · %(n)s 条证据事件",
    "%(n)s times": "%(n)s 次",
    "still happening when diagnosed": "诊断时仍在发生",
    "Root cause": "根本原因",
    "Solution": "解决方案",
    "Risk": "风险",
    "Live": "实时",
    "Live state is not configured on this collector.": "此采集服务器未配置实时状态。",
    "hub": "网关",
    "online": "在线",
    "offline": "离线",
    "never seen": "从未上线",
    "since": "自",
    "Refresh devices": "刷新设备",
    "Capture now": "立即采集",
    "Bundle": "证据包",
    "verified": "已验证",
    "NOT verified": "未验证",
    "This bundle cannot be shown in full:": "此证据包无法完整显示：",
    "Zoom in": "放大",
    "Zoom out": "缩小",
    "Files:": "文件：",
    # the work panel
    "Work on it": "处理工单",
    "Assigned to:": "处理人：",
    "nobody": "无人",
    "Public reply": "公开回复",
    "the customer reads this and is e-mailed": "客户可见，并会收到邮件",
    "Send reply to customer": "发送回复给客户",
    "Internal note": "内部备注",
    "staff only, never shown to the customer": "仅员工可见，绝不向客户显示",
    "Save internal note": "保存内部备注",
    "Move to": "转到",
    "Internal remark": "内部说明",
    "Service report (sent to the customer on resolving)": "服务报告（解决时发送给客户）",
    "Maintenance advice": "维护建议",
    "Move": "转移",
    "Reason": "原因",
    "Change level": "修改级别",
    "Person": "个人",
    "Assign": "分配",
    "Assign to me": "分配给我",
    "Move bundle": "移动证据包",
    "to ticket #": "到工单号",
    "because": "原因",
    "(same household; audited)": "（同一家庭；记入审计）",
    "Milestone": "里程碑",
    "what was done and what comes next; the customer reads it and is e-mailed": "已完成的工作和下一步；客户可见，并会收到邮件",
    "Next update by": "下次更新不晚于",
    "Send progress update": "发送进度更新",
    "Step": "步骤",
    "Complaint report (required to close; internal)": "投诉报告（关闭时必填；内部）",
    "Record complaint step": "记录投诉处理步骤",
    "What the customer is told": "告知客户的内容",
    "Record milestone": "记录里程碑",
    # the history
    "History": "历史记录",
    "opened the ticket (%(level)s, via %(channel)s)": "创建了工单（%(level)s，渠道：%(channel)s）",
    ", routed to %(group)s": "，分派到 %(group)s",
    "the customer sees this": "客户可见",
    "staff only": "仅员工可见",
    "From the customer": "来自客户",
    "added a screenshot (%(type)s, %(size)s KiB, metadata removed)": "添加了截图（%(type)s，%(size)s KiB，已删除元数据）",
    "Progress update": "进度更新",
    "next by": "下次更新不晚于",
    "moved it from <b>%(from)s</b> to <b>%(to)s</b>": "将状态从 <b>%(from)s</b> 改为 <b>%(to)s</b>",
    "reopened": "已重新打开",
    "Internal": "内部",
    "reached the milestone <b>%(name)s</b>": "达到里程碑 <b>%(name)s</b>",
    "changed the level from %(from)s to <b>%(to)s</b>: %(reason)s": "将级别从 %(from)s 改为 <b>%(to)s</b>：%(reason)s",
    "assigned it": "分配了工单",
    "to <b>%(who)s</b>": "给 <b>%(who)s</b>",
    "classified it as %(type)s: %(cause)s (%(impact)s)": "归类为%(type)s：%(cause)s（%(impact)s）",
    "from the %(source)s": "来自%(source)s",
    "attached bundle %(id)s": "附加了证据包 %(id)s",
    ", moved from ticket %(id)s": "，从工单 %(id)s 移来",
    "sent the customer “%(subject)s” by %(channel)s": "通过%(channel)s向客户发送了“%(subject)s”",
    "to %(address)s": "至 %(address)s",
    "scheduled follow-up %(n)s for %(due)s": "安排第 %(n)s 次回访于 %(due)s",
    "follow-up %(n)s: satisfaction %(score)s/5": "第 %(n)s 次回访：满意度 %(score)s/5",
    ", the fault came back": "，故障再次出现",
    "Complaint": "投诉",
    "complaint %(id)s: %(step)s": "投诉 %(id)s：%(step)s",
    "due soon": "即将到期",
    "missed": "已超时",
    "due": "期限",
    # new ticket
    "Customer (name, phone)": "客户（姓名、电话）",
    "E-mail for updates": "接收进度的邮箱",
    "Language": "语言",
    "Customer's time zone": "客户时区",
    "Fault": "故障",
    "Device model": "设备型号",
    "Firmware": "固件",
    "Time of fault (in words)": "故障时间（文字描述）",
    "First seen at": "首次发现于",
    "Environment (network, router…)": "环境（网络、路由器……）",
    "Business impact (devices, people affected)": "业务影响（受影响的设备、人员）",
    "Attachment (a screenshot or photo from the customer: PNG or JPEG, up to 4 MiB; location and camera details are"
    " removed; staff only)": "附件（客户提供的截图或照片：PNG 或 JPEG，最大 4 MiB；位置和相机信息会被删除；仅员工可见）",
    "Open ticket": "创建工单",
    # search, deliveries, fleet, report
    "Search": "搜索",
    "Found in": "匹配位置",
    "Nothing matches.": "没有匹配的结果。",
    "Type words to look for.": "请输入要搜索的词。",
    "Customer e-mail and webhook deliveries, newest first. Pending jobs are retried with backoff; failed ones used"
    " every attempt.": "客户邮件和 Webhook 投递，最新的在前。待发送的任务会退避重试；失败的任务已用完所有尝试次数。",
    "To": "收件方",
    "Attempts": "尝试次数",
    "Created": "创建时间",
    "Sent / next try": "发送时间 / 下次尝试",
    "Errors of the attempts": "各次尝试的错误",
    "Nothing was sent yet.": "尚未发送任何内容。",
    "Faults across households": "各家庭的故障",
    "Signature": "故障特征",
    "Households": "家庭数",
    "Bundles": "证据包数",
    "Device model and firmware": "设备型号和固件",
    "No bundles yet.": "还没有证据包。",
    "Known firmware issues across households": "各家庭的已知固件问题",
    "Known issue": "已知问题",
    "Fixed in": "修复版本",
    "Source": "来源",
    "No known issue named yet.": "尚未发现已知问题。",
    "Monthly report": "月度报表",
    "Show": "显示",
    "%(n)s tickets opened; months and hours in %(zone)s. On-time rates count only targets that fell due in the"
    " month.": "本月新建 %(n)s 个工单；月份和小时按 %(zone)s 计算。准时率只统计本月到期的目标。",
    "SLA hours: business hours for P2/P3, around the clock for P1, pauses left out.": "SLA 小时：P2/P3 按工作时间，"
    "P1 全天候计算，暂停时间不计。",
    "Fault type": "故障类型",
    "Resolved at month end": "月末已解决",
    "First response on time": "首次响应准时率",
    "Updates on time": "进度更新准时率",
    "Root cause / fix targets on time": "根因 / 修复目标准时率",
    "72 h silences": "72 小时无音讯",
    "Hours to root cause (wall / SLA)": "找到根因用时（自然 / SLA 小时）",
    "Hours to fix (wall / SLA)": "修复用时（自然 / SLA 小时）",
    "CSAT per response": "每次回访满意度",
    "CSAT per ticket": "每个工单满意度",
    "Complaints": "投诉",
    "Complaints closed on time": "投诉按时关闭",
    "Follow-ups on time (early)": "回访准时（提前）",
    "Trend": "趋势",
    "Month": "月份",
    "Resolved": "已解决",
    "Closed on time": "按时关闭",
    "Hot spots (tickets opened in the month)": "热点（本月新建的工单）",
}

# Values of the data the desk shows, by their English reading (underscores as spaces).
WORDS_ZH: dict[str, str] = {
    # the queue's filters
    "priority": "级别",
    "state": "状态",
    # roles
    "customer": "客户",
    "engineer": "工程师",
    "admin": "管理员",
    "partner": "合作伙伴",
    # ticket states
    "new": "新建",
    "triaged": "已分诊",
    "diagnosing": "诊断中",
    "solution": "解决中",
    "awaiting confirmation": "待客户确认",
    "resolved": "已解决",
    "follow up": "回访中",
    "closed": "已关闭",
    "waiting customer": "等待客户",
    "waiting parts": "等待配件",
    # solution kinds
    "remote": "远程处理",
    "upgrade": "升级",
    "configuration": "配置调整",
    "on site": "上门服务",
    # milestones
    "root cause found": "已找到根因",
    "solution approved": "方案已确认",
    "in progress": "处理中",
    "workaround": "临时方案",
    "fixed": "已修复",
    # service-level targets and their clocks
    "first response": "首次响应",
    "update": "进度更新",
    "update 72h": "72 小时通报",
    "root cause": "根因",
    "fix": "修复",
    "complaint ack": "投诉确认",
    "complaint plan": "投诉方案",
    "complaint close": "投诉关闭",
    "running": "计时中",
    "warning": "即将超时",
    "paused": "已暂停",
    "breached": "已超时",
    "met": "已达成",
    "met late": "延迟达成",
    "early": "提前",
    "stopped": "已停止",
    # complaint steps
    "ack": "已确认",
    "plan": "已给出方案",
    "close": "已关闭",
    # intake channels, groups, delivery channels and states
    "hotline": "热线",
    "chat": "在线聊天",
    "app": "应用",
    "e-mail": "电子邮件",
    "email": "电子邮件",
    "webhook": "Webhook",
    "self-diagnosis": "自诊断",
    "on-site": "现场",
    "emergency": "紧急组",
    "support": "支持组",
    "pending": "待发送",
    "sent": "已发送",
    "failed": "失败",
    # bundle triggers, classifications, report rows
    "fault": "故障",
    "engineer-request": "工程师请求",
    "manual": "手动",
    "software": "软件",
    "hardware": "硬件",
    "network": "网络",
    "human error": "人为错误",
    "diagnosis": "诊断",
    "all": "全部",
    "unclassified": "未分类",
    "device": "设备",
    "firmware": "固件",
    "hour of day": "时段",
    "fault signature": "故障特征",
    # the timeline chart's lanes and marks
    "hub link": "网关连接",
    "gateway": "路由器",
    "dns": "DNS",
    "internet": "互联网",
    "broker": "消息服务器",
    "down": "中断",
    "refused": "拒绝登录",
    "reboot": "重启",
    # search hits: where the words were found
    "intake": "受理信息",
    "note": "客户补充",
    "public reply": "公开回复",
    "internal note": "内部备注",
}


def _key(value: object) -> str:
    return str(value.value if isinstance(value, Enum) else value).replace("_", " ")


def phrases(language: Language) -> Callable[[str], Markup]:
    """``_`` for the templates: a phrase of the catalog in ``language`` (trusted markup); anything else escaped."""
    chinese = language is Language.ZH

    def translate(phrase: str) -> Markup:
        if phrase not in PHRASES_ZH:  # not ours: plain text; marked on a Chinese page, where it would be English
            return escape(f"⟦{phrase}⟧" if chinese else phrase)
        return Markup(PHRASES_ZH[phrase] if chinese else phrase)

    return translate


def words(language: Language) -> Callable[[object], str]:
    """``word`` for the templates: a value of the data as a reader of ``language`` names it (plain text)."""

    def name(value: object) -> str:
        key = _key(value)
        return WORDS_ZH.get(key, key) if language is Language.ZH else key

    return name


def message(language: Language, text: str) -> str:
    """A refusal's message in ``language`` when the catalog has it (plain text: it is escaped on the page)."""
    return PHRASES_ZH.get(text, text) if language is Language.ZH else text
