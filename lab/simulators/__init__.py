"""Device simulators speaking the real payload formats over MQTT and real mDNS.

``python -m lab.simulators <family> --broker HOST:PORT --name NAME ...``; families and payloads in
:mod:`lab.simulators.families`, the network side in :mod:`lab.simulators.runner`.
"""

from .families import CRASH_REASON, FAMILIES, POWER_ON_REASON

__all__ = ["CRASH_REASON", "FAMILIES", "POWER_ON_REASON"]
