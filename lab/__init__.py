"""The lab: real processes (Mosquitto, dnsmasq, avahi) and a network-namespace home for tests, benchmarks and the demo.

The lab only ever addresses loopback and the namespaces it created itself.
"""
