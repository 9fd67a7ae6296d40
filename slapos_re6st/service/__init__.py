"""re6st-service: how every service of the partition is run (launcher)."""
