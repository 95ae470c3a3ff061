from shared.models import RootCause


def test_vocabulary_contains_the_briefs_root_causes() -> None:
    assert {c.value for c in RootCause} >= {
        "router_reboot",
        "router_scheduled_reboot",
        "wan_outage",
        "dns_failure",
        "hub_link_down",
        "wifi_weak_signal",
        "device_offline",
        "device_reboot",
        "device_crash_loop",
        "broker_down",
        "hub_reboot",
        "hub_power_loss",
        "firmware_known_issue",
        "clock_jump",
        "healthy",
    }
