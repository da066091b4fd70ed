"""Errors a handler raises to steer retries, and how a raised exception is reported in a `result` frame.

- `NonRetriableError`: retrying will not help; the delivery goes straight to the dead-letter queue (events) or
  the error is returned (API). Any exception with `retriable = False` counts the same.
- `RetryAfterError(message, retry_after_ms)`: retry, but not before `retry_after_ms`.
- anything else: retried with the queue's backoff.
"""

from __future__ import annotations

import concurrent.futures
import os
import traceback
from typing import Any


class NonRetriableError(Exception):
    retriable = False


class RetryAfterError(Exception):
    def __init__(self, message: str, retry_after_ms: float):
        super().__init__(message)
        if not isinstance(retry_after_ms, (int, float)) or retry_after_ms < 0:
            raise TypeError(f"RetryAfterError: retry_after_ms must be a number >= 0, got {retry_after_ms!r}")
        self.retry_after_ms = retry_after_ms


_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
# A sync handler runs in the worker's thread pool: the pool's frames are the worker's too.
_HIDDEN = (_PKG_DIR + os.sep, os.path.dirname(os.path.abspath(concurrent.futures.__file__)) + os.sep)


def format_traceback(err: BaseException) -> str:
    """The traceback without the worker's own frames (the step's code is what matters)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not os.path.abspath(f.filename).startswith(_HIDDEN)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames), *traceback.format_exception_only(type(err), err)]
    return "".join(lines).rstrip()


def classify(err: BaseException) -> dict[str, Any]:
    """The `error` of a failed `result` frame."""
    message = str(err) or type(err).__name__
    out: dict[str, Any] = {"message": message, "name": type(err).__name__, "stack": format_traceback(err)}
    out["retriable"] = getattr(err, "retriable", True) is not False
    after = getattr(err, "retry_after_ms", None)
    if isinstance(after, (int, float)) and not isinstance(after, bool) and after >= 0:
        out["retryAfterMs"] = after
    return out
