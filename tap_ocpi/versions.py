"""OCPI versions: what differs per version (one table), and negotiating one with a platform.

GET versions_url → pick a version → GET its details → module identifier → Sender URL(s).
A version-details URL is accepted as versions_url too (some operators only hand that out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_ocpi.errors import OCPIError

if TYPE_CHECKING:
    from tap_ocpi.settings import Settings
    from tap_ocpi.transport import OCPIClient


@dataclass(frozen=True)
class Traits:
    """Everything the tap does differently per OCPI version."""

    #: Which mapping (normalize/mapping.py) reads the version's objects.
    mapping: str
    #: The Authorization token form the version prescribes (auth.py starts with it).
    token_form: Literal["plain", "base64"]
    #: Whether requests carry X-Request-ID / X-Correlation-ID and the OCPI-from/to routing
    #: headers (transport.py).
    tracing_headers: bool
    #: Whether version details name each endpoint's role. Without roles a module may be
    #: listed once per role, so every URL is kept and the first that serves a list is used.
    roles_known: bool


_V211 = Traits("2.1.1", "plain", tracing_headers=False, roles_known=False)
_V221 = Traits("2.2.1", "base64", tracing_headers=True, roles_known=True)
_V230 = Traits("2.3.0", "base64", tracing_headers=True, roles_known=True)
#: The versions tap-ocpi reads, best first. "2.2" (deprecated) is read like 2.2.1.
TRAITS: dict[str, Traits] = {"2.3.0": _V230, "2.2.1": _V221, "2.2": _V221, "2.1.1": _V211}
SUPPORTED = tuple(TRAITS)
_VERSION_RE = re.compile(r"\s*(\d+)\.(\d+)")


def traits(version: str) -> Traits:
    """The traits of a version string as sent on the wire: 2.0/2.1 read like 2.1.1, 2.2 like
    2.2.1, 2.3+ like 2.3.0; anything else is a ValueError."""
    if version in TRAITS:
        return TRAITS[version]
    match = _VERSION_RE.match(version or "")
    if match is None or match.group(1) != "2":
        raise ValueError("unsupported OCPI version")
    minor = int(match.group(2))
    return _V211 if minor < 2 else _V221 if minor < 3 else _V230


@dataclass(frozen=True)
class Platform:
    """What a run knows about the platform after negotiation."""

    version: str  # the mapping to read objects with: 2.1.1, 2.2.1 or 2.3.0
    wire_version: str  # as the platform named it
    modules: dict[str, str]  # module identifier → (first) Sender URL
    owner: tuple[str, str] | None  # (country_code, party_id) for objects that carry none
    roles_known: bool  # 2.2+ lists roles; in 2.1.1 a module may not be a Sender at all
    #: Module identifier → every URL listed for it, in order (several only without roles).
    endpoints: dict[str, tuple[str, ...]] = field(default_factory=dict)

    #: The versions the platform's versions document lists (for the diagnosis).
    offered: tuple[str, ...] = ()

    def urls(self, module: str) -> tuple[str, ...]:
        """The URLs to try for a module's list, in order (empty: not offered)."""
        if module in self.endpoints:
            return self.endpoints[module]
        return (self.modules[module],) if module in self.modules else ()


def negotiate(client: OCPIClient, settings: Settings) -> Platform:
    """Negotiate with the platform; raises OCPIError with one clear line on failure."""
    versions_url = settings.versions_url
    document = _versions_document(client, versions_url)
    if _is_details(document):
        details, wire = document, str(document.get("version", ""))
        offered: tuple[str, ...] = (wire,)
    else:
        offered = _offered(document)
        wire, details_url = choose_version(document, settings.ocpi_version)
        client.version = wire  # the details request already carries 2.2+ tracing headers
        details = client.get(details_url, "versions")
    details = _one_details(details)
    if wire not in TRAITS:
        raise OCPIError(
            f"the platform's version details name version {wire!r}, which tap-ocpi "
            f"cannot read (supported: {', '.join(SUPPORTED)})"
        )
    client.version = wire
    client.auth.use_version_default(wire)
    kind = TRAITS[wire]
    endpoints = endpoint_lists(details, kind.roles_known)
    modules = {module: urls[0] for module, urls in endpoints.items()}
    owner = _owner(client, settings, modules) if not kind.roles_known else None
    return Platform(kind.mapping, wire, modules, owner, kind.roles_known, endpoints, offered)


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
    """Accept a list, an object wrapping the list (a common deviation), or version details
    (also inside a one-element list)."""
    if isinstance(data, dict) and "endpoints" not in data:
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
    if not data or not isinstance(data, (list, dict)):
        raise OCPIError(f"the platform's versions document at {_path(url)} lists no versions")
    return _one_details(data)


def _is_details(data: Any) -> bool:
    return isinstance(data, dict) and "endpoints" in data


def _one_details(data: Any) -> Any:
    """Version details wrapped in a one-element list are the details."""
    if isinstance(data, list) and len(data) == 1 and _is_details(data[0]):
        return data[0]
    return data


def _offered(versions: Any) -> tuple[str, ...]:
    items = versions if isinstance(versions, list) else []
    return tuple(str(i["version"]) for i in items if isinstance(i, dict) and i.get("version"))


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
        if pinned not in TRAITS:
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


def endpoint_lists(details: Any, roles_known: bool) -> dict[str, tuple[str, ...]]:
    """Module identifier → its URLs in the order listed; in 2.2+ only the SENDER interfaces
    (those have list GETs). Without roles every URL is kept: one may belong to the other
    role and answer no list (the list reader then tries the next)."""
    endpoints = details.get("endpoints") if isinstance(details, dict) else None
    if not isinstance(endpoints, list) or not endpoints:
        raise OCPIError("the platform's version details list no endpoints")
    modules: dict[str, list[str]] = {}
    for endpoint in endpoints:
        if not isinstance(endpoint, dict) or not endpoint.get("url"):
            continue
        role = str(endpoint.get("role") or "SENDER").upper()
        if roles_known and role != "SENDER":
            continue
        urls = modules.setdefault(str(endpoint.get("identifier", "")).lower(), [])
        url = str(endpoint["url"])
        if url not in urls and (not roles_known or not urls):
            urls.append(url)
    return {module: tuple(urls) for module, urls in modules.items()}


def _owner(client: OCPIClient, settings: Settings, modules: dict[str, str]) -> tuple[str, str]:
    """2.1.1 objects carry no owner: take it from the settings, else the credentials object."""
    if settings.to_country_code and settings.to_party_id:
        return settings.to_country_code, settings.to_party_id
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
