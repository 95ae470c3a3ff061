"""Helpdesk connectors: the evidence lands in the helpdesk the support organisation already works in.

A homediag ticket is linked to one ticket per configured helpdesk (Request Tracker 5, Zendesk, Jira Service
Management), opened by either side and matched by household. Every verified bundle on the ticket goes there as an
internal note — the diagnosis in four parts, a link to the engineer's timeline page and the signed bundle itself
(or a signed, expiring download link above the helpdesk's attachment limit) — and SLA warnings, breaches and
milestones follow as internal notes. Nothing is ever sent as a public reply.

Delivery goes through the durable outbox (``collector.delivery``) on the ``helpdesk`` channel: ``plan`` turns
ticket events into jobs, ``sender`` delivers them through a ``HelpdeskClient`` per helpdesk (``rt``, ``zendesk``,
``jsm``), and ``inbound`` takes the helpdesks' webhooks. See docs/connectors.md.
"""
