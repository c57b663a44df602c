"""The answers to a client's requests that refuse it: one shape, with a ``code`` that says
whether and when to retry (docs/clients.md)."""

from __future__ import annotations

from shared import contract

# What a temporary refusal (``unavailable``) asks the client to wait before it retries.
RETRY_AFTER_SECONDS = 1.0


def refused(code: str, message: str) -> dict:
    answer = {"ok": False, "code": code, "error": message}
    if code == contract.CODE_UNAVAILABLE:
        answer["retryAfter"] = RETRY_AFTER_SECONDS
    return answer


def unavailable(message: str = "event history unavailable, try again") -> dict:
    return refused(contract.CODE_UNAVAILABLE, message)


def not_connected() -> dict:
    return refused(contract.CODE_BAD_REQUEST, "not connected")
