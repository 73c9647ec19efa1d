"""Version negotiation: the versions and version-details documents, and the endpoint map.

GET versions_url → pick a version → GET its details → module identifier → Sender URL.
A version-details URL is accepted as versions_url too (some operators only hand that out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_ocpi.errors import OCPIError

if TYPE_CHECKING:
    from tap_ocpi.transport import OCPIClient

#: Versions we can read, best first. "2.2" (deprecated) is read with the 2.2.1 mapping.
SUPPORTED = ("2.3.0", "2.2.1", "2.2", "2.1.1")
#: Which mapping (normalize.py) reads the objects of a wire version.
SHAPES = {"2.3.0": "2.3.0", "2.2.1": "2.2.1", "2.2": "2.2.1", "2.1.1": "2.1.1"}


@dataclass(frozen=True)
class Platform:
    """What a run knows about the platform after negotiation."""

    version: str  # the mapping to read objects with: 2.1.1, 2.2.1 or 2.3.0
    wire_version: str  # as the platform named it
    modules: dict[str, str]  # module identifier → Sender URL
    owner: tuple[str, str] | None  # (country_code, party_id) for objects that carry none
    roles_known: bool  # 2.2+ lists roles; in 2.1.1 a module may not be a Sender at all


def negotiate(client: OCPIClient, config: dict[str, Any]) -> Platform:
    """Negotiate with the platform; raises OCPIError with one clear line on failure."""
    versions_url = str(config["versions_url"])
    document = _versions_document(client, versions_url)
    if isinstance(document, dict) and "endpoints" in document:
        details, wire = document, str(document.get("version", ""))
    else:
        wire, details_url = choose_version(document, config.get("ocpi_version"))
        client.version = wire  # the details request already carries 2.2+ tracing headers
        details = client.get(details_url, "versions")
    if wire not in SHAPES:
        raise OCPIError(
            f"the platform's version details name version {wire!r}, which tap-ocpi "
            f"cannot read (supported: {', '.join(SUPPORTED)})"
        )
    client.version = wire
    client.auth.use_version_default(wire)
    roles_known = SHAPES[wire] != "2.1.1"
    modules = endpoint_map(details, roles_known)
    owner = _owner(client, config, modules) if not roles_known else None
    return Platform(SHAPES[wire], wire, modules, owner, roles_known)


def _versions_document(client: OCPIClient, url: str) -> Any:
    """GET the versions list; any failure or an empty list gets one try with the other token
    form, because the version (and so the expected form) is not known yet."""
    try:
        data = client.get(url, "versions")
        if _usable(data) or not client.auth.can_fall_back:
            return _unwrap(data, url)
    except (OCPIError, RetriableAPIError, requests.RequestException):
        if not client.auth.can_fall_back:
            raise
    client.auth.fall_back()
    return _unwrap(client.get(url, "versions"), url)


def _usable(data: Any) -> bool:
    return bool(data) and (isinstance(data, (list, dict)))


def _unwrap(data: Any, url: str) -> Any:
    """Accept a list, an object wrapping the list (a common deviation), or version details."""
    if isinstance(data, dict) and "endpoints" not in data:
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
    if not data or not isinstance(data, (list, dict)):
        raise OCPIError(f"the platform's versions document at {_path(url)} lists no versions")
    return data


def choose_version(versions: Any, pinned: str | None) -> tuple[str, str]:
    """(version, details URL): the pinned one, else the highest both sides support."""
    offered: dict[str, str] = {}
    for item in versions if isinstance(versions, list) else []:
        if isinstance(item, dict) and item.get("version") and item.get("url"):
            offered.setdefault(str(item["version"]), str(item["url"]))
    if pinned:
        if pinned not in offered:
            raise OCPIError(
                f"ocpi_version {pinned} is not offered by the platform "
                f"(it offers {', '.join(sorted(offered)) or 'none'})"
            )
        if pinned not in SHAPES:
            raise OCPIError(
                f"ocpi_version {pinned} is not supported by tap-ocpi "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        return pinned, offered[pinned]
    for version in SUPPORTED:
        if version in offered:
            return version, offered[version]
    raise OCPIError(
        f"no common OCPI version: the platform offers "
        f"{', '.join(sorted(offered)) or 'none'}, tap-ocpi reads "
        f"{', '.join(SUPPORTED)}"
    )


def endpoint_map(details: Any, roles_known: bool) -> dict[str, str]:
    """Module identifier → URL; in 2.2+ only the SENDER interfaces (those have list GETs)."""
    endpoints = details.get("endpoints") if isinstance(details, dict) else None
    if not isinstance(endpoints, list) or not endpoints:
        raise OCPIError("the platform's version details list no endpoints")
    modules: dict[str, str] = {}
    for endpoint in endpoints:
        if not isinstance(endpoint, dict) or not endpoint.get("url"):
            continue
        role = str(endpoint.get("role") or "SENDER").upper()
        if roles_known and role != "SENDER":
            continue
        modules.setdefault(str(endpoint.get("identifier", "")).lower(), str(endpoint["url"]))
    return modules


def _owner(client: OCPIClient, config: dict[str, Any], modules: dict[str, str]) -> tuple[str, str]:
    """2.1.1 objects carry no owner: take it from the config, else the credentials object."""
    if config.get("to_country_code") and config.get("to_party_id"):
        return str(config["to_country_code"]), str(config["to_party_id"])
    credentials_url = modules.get("credentials")
    if credentials_url:
        try:
            data = client.get(credentials_url, "credentials")
        except (OCPIError, RetriableAPIError, requests.RequestException):
            data = None
        if isinstance(data, dict) and data.get("country_code") and data.get("party_id"):
            return str(data["country_code"]), str(data["party_id"])
    raise OCPIError(
        "OCPI 2.1.1 objects carry no owner and the platform's credentials did not "
        "say who it is: set to_country_code and to_party_id"
    )


def _path(url: str) -> str:
    return urlsplit(url).path or "/"
