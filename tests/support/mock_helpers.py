"""Helpers for the mock platform's own tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from support.spec_examples import SHARED
from tap_ocpi.mock_platform import MockPlatform

Get = Callable[..., requests.Response]


def ocpi_get(
    http: requests.Session, platform: MockPlatform, version: str | None, path: str, **kw: Any
) -> requests.Response:
    """GET `path` (absolute URL, or relative to the version's base) with valid auth."""
    url = path if path.startswith("http") else f"{platform.base_url}/ocpi/{version}/{path}"
    headers = {"Authorization": platform.auth_header(version), **kw.pop("headers", {})}
    return http.get(url, headers=headers, timeout=10, **kw)


def crawl(
    http: requests.Session, platform: MockPlatform, version: str, module: str, **params: Any
) -> tuple[list[dict[str, Any]], list[requests.Response]]:
    """Follow Link headers from the first page; returns (objects, responses)."""
    url: str | None = platform.endpoint_url(version, module)
    objects: list[dict[str, Any]] = []
    responses = []
    first = True
    while url:
        r = ocpi_get(http, platform, version, url, params=params if first else None)
        first = False
        assert r.status_code == 200, r.text
        responses.append(r)
        objects += r.json()["data"]
        url = r.links.get("next", {}).get("url")
    return objects, responses


def spec_dir() -> Path:
    """shared/ (the spec digest and examples), or skip the calling test when it is absent."""
    if not (SHARED / "docs" / "ocpi-digest.md").exists():
        pytest.skip(f"OCPI digest not found under {SHARED}: ../shared is absent (CI has it)")
    return SHARED
