"""Wait on a condition with a timeout instead of sleeping and hoping."""

import time


def wait_until(condition, timeout=10.0, interval=0.02, message="condition"):
    """Call ``condition`` until it returns a truthy value, and return that value.

    Raises AssertionError naming ``message`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{detail}")
        time.sleep(interval)
