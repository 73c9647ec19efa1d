"""Run tap-ocpi with the one-page-ahead prefetch disabled (benchmark only).

    python tap_no_prefetch.py --config … --catalog …

`ListReader.pages` submits the next page's request to a one-thread pool before it
yields the current page. Here the pool runs each request inside `submit`, so the next page
is fetched *before* the current one is processed: the sequential client the prefetch
replaces. Nothing else changes.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import tap_ocpi.reading
from tap_ocpi.tap import main


class InlineExecutor:
    """A ThreadPoolExecutor stand-in that runs each call at once, in the calling thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the pool would hand the error to .result() too
            future.set_exception(exc)
        return future


if not hasattr(tap_ocpi.reading, "ThreadPoolExecutor"):
    raise SystemExit("tap_ocpi.reading no longer uses ThreadPoolExecutor: update this wrapper")
tap_ocpi.reading.ThreadPoolExecutor = InlineExecutor  # type: ignore[attr-defined,misc]

if __name__ == "__main__":
    main()
