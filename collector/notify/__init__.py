"""Telling customers and other systems what happens on a ticket: message templates (English and Simplified
Chinese), the planner that turns ticket events into outbox jobs, and the channels' senders."""
