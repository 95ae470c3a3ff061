"""The support process (docs/support-process.md): calendars, SLA clocks, lifecycle, follow-ups, reports.

Everything here is pure: functions of a ticket's append-only event log, the policy and the time passed in.
"""
