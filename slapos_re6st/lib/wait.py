"""Waiting for something, bounded: the one wait loop of this release."""
import time


def wait_for(check, timeout, interval=0.5):
    """check()'s first true value, polled every `interval` seconds for at
    most `timeout` seconds (then the last, false, value).  `check` runs at
    least once, and once more at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        left = deadline - time.monotonic()
        if value or left <= 0:
            return value
        time.sleep(min(interval, left))
