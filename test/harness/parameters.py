"""Every re6st-registry option away from its default, as an instance
request, and what re6st-registry's own parser makes of it (the options
naming files, mailhost and geoip2-mmdb, are each test's own)."""

NETWORK = {
    'prefix-length': 20, 'anonymous-prefix-length': 24,
    'ipv4-net': '10.42.0.0/16 24', 'client-count': 4, 'max-clients': 12,
    'tunnel-refresh': 120, 'hello': 30, 'min-protocol': 7, 'encrypt': True,
    'same-country': ['FR', 'DE'], 'grace-period': 86400, 'verbose': 2}
PARSED = {
    'prefix_length': 20, 'anonymous_prefix_length': 24,
    'ipv4': ('10.42.0.0/16', 24), 'client_count': 4, 'max_clients': 12,
    'tunnel_refresh': 120, 'hello': 30, 'min_protocol': 7, 'encrypt': True,
    'same_country': ['FR', 'DE'], 'grace_period': 86400, 'verbose': 2}


def parsed_values(parsed):
    """The values of `parsed` (re6st-registry's options) that NETWORK
    sets."""
    return {name: getattr(parsed, name) for name in PARSED}
