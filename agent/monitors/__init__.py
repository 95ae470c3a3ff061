"""Monitors: one module per probe (link, gateway, dns, internet, broker, ssdp, health, clock); ``probes.run_checks``
runs one round, ``connectivity`` records its transitions in the timeline."""
