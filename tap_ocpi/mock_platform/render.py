"""Facts -> OCPI objects exactly as each version shapes them (see ocpi-digest.md §6-11).

What varies by version is kept in small tables (money, field names, enum subsets); the
builders below only decide which fields exist. Optional fields that have no value are
left out rather than sent as null.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from tap_ocpi.mock_platform import vocab
from tap_ocpi.mock_platform.config import CPO_PARTY, EMSP_PARTY, V211, V230
from tap_ocpi.mock_platform.rng import Rng
from tap_ocpi.mock_platform.timeline import Formatter, fmt_z
from tap_ocpi.mock_platform.world import (
    ClientFacts,
    ConnectorFacts,
    EvseFacts,
    LocationFacts,
    Period,
    SessionFacts,
    TariffFacts,
    TokenFacts,
    World,
)

Obj = dict[str, Any]

OPERATOR: Obj = {"name": "Voltaro Charging GmbH", "website": "https://www.voltaro.example"}
EMSP_NAME = "Voltaro eMobility"
VERIFY_URL = "https://transparenz.voltaro.example/pruefen"


def _price_211(excl: float, _vat: float) -> Any:
    return round(excl, 2)


def _price_221(excl: float, vat: float) -> Any:
    return {"excl_vat": round(excl, 2), "incl_vat": round(excl * (1 + vat / 100), 2)}


def _price_230(excl: float, vat: float) -> Any:
    return {
        "before_taxes": round(excl, 2),
        "taxes": [{"name": "VAT", "percentage": vat, "amount": round(excl * vat / 100, 2)}],
    }


PRICE: dict[str, Callable[[float, float], Any]] = {
    V211: _price_211,
    "2.2.1": _price_221,
    V230: _price_230,
}
# EnvironmentalImpact's category key was renamed after 2.1.1.
IMPACT_KEY = {V211: "source", "2.2.1": "category", V230: "category"}
TOKEN_TYPE_211 = {"RFID": "RFID", "APP_USER": "OTHER"}
AUTH_METHOD_211 = {
    "WHITELIST": "WHITELIST",
    "AUTH_REQUEST": "AUTH_REQUEST",
    "COMMAND": "AUTH_REQUEST",
}
CAPS_211 = frozenset(vocab.CAPABILITIES_211)
FACILITIES_211 = frozenset(vocab.FACILITIES_211)
EVSE_STATUS_CYCLE = ("CHARGING", "AVAILABLE", "OUTOFORDER", "AVAILABLE", "BLOCKED")


def owner_fields(version: str, party: tuple[str, str]) -> Obj:
    """2.2+ objects name their owner; 2.1.1 objects do not."""
    return {} if version == V211 else {"country_code": party[0], "party_id": party[1]}


def energy_mix(version: str, green: bool, supplier: tuple[str, str]) -> Obj:
    sources = (
        [("GENERAL_GREEN", 62.5), ("WIND", 25.0), ("SOLAR", 12.5)]
        if green
        else [("GENERAL_GREEN", 38.1), ("GAS", 21.4), ("COAL", 27.2), ("NUCLEAR", 13.3)]
    )
    impact = [(IMPACT_KEY[version], "CARBON_DIOXIDE"), ("amount", 0 if green else 372)]
    return {
        "is_green_energy": green,
        "energy_sources": [{"source": s, "percentage": p} for s, p in sources],
        "environ_impact": [dict(impact)],
        "supplier_name": supplier[0],
        "energy_product_name": supplier[1],
    }


# ---- locations ------------------------------------------------------------------------


def connector(c: ConnectorFacts, version: str, lu: str) -> Obj:
    out: Obj = {"id": c.id, "standard": c.standard, "format": c.format, "power_type": c.power_type}
    tariff_id = f"TRF{c.tariff:04d}"
    if version == V211:
        out.update(voltage=c.voltage, amperage=c.amperage, tariff_id=tariff_id)
    else:
        out.update(
            max_voltage=c.voltage,
            max_amperage=c.amperage,
            max_electric_power=c.power_w,
            tariff_ids=[tariff_id],
        )
    out["terms_and_conditions"] = "https://www.voltaro.example/agb"
    if version == V230 and c.capabilities:
        out["capabilities"] = list(c.capabilities)
    out["last_updated"] = lu
    return out


def evse(
    e: EvseFacts,
    version: str,
    *,
    status: str,
    lu: str,
    kind: str,
    only_connector: int | None = None,
) -> Obj:
    caps = [c for c in e.capabilities if version != V211 or c in CAPS_211]
    conns = e.connectors if only_connector is None else (e.connectors[only_connector],)
    out: Obj = {
        "uid": e.uid,
        "evse_id": e.evse_id,
        "status": status,
        "capabilities": caps,
        "connectors": [connector(c, version, lu) for c in conns],
    }
    if e.floor_level is not None:
        out["floor_level"] = e.floor_level
    if e.physical_reference is not None:
        out["physical_reference"] = e.physical_reference
    if kind == "public":
        out["parking_restrictions"] = ["EV_ONLY"]
    if version == V230 and e.parking_ids:
        out["parking"] = [{"parking_id": p, "evse_position": "LEFT"} for p in e.parking_ids]
    if version == V230 and kind == "public":
        out["accepted_service_providers"] = [EMSP_NAME, "Nordlicht Mobility"]
    out["last_updated"] = lu
    return out


def opening_times(loc: LocationFacts, version: str) -> Obj:
    regular = [{"weekday": d, "period_begin": b, "period_end": e} for d, b, e in loc.regular_hours]
    if version == V211:  # 2.1.1 Hours is a choice: regular_hours *or* twentyfourseven
        return {"regular_hours": regular} if regular else {"twentyfourseven": True}
    out: Obj = {"twentyfourseven": not regular}
    if regular:
        out["regular_hours"] = regular
    return out


def location(
    loc: LocationFacts,
    version: str,
    *,
    lu: int,
    lu0: int,
    fmt: Formatter,
    evse_state: dict[int, tuple[str, int]] | None = None,
    only: tuple[int, int] | None = None,
) -> Obj:
    """A Location last updated at `lu` (`lu0`: its original stamp, which dates the EVSEs).
    `evse_state` overrides (status, last_updated) of changed EVSEs; `only` keeps a single
    (evse, connector), as 2.1.1 embeds it in sessions and CDRs."""
    out: Obj = owner_fields(version, CPO_PARTY)
    out["id"] = loc.id
    if version == V211:
        out["type"] = vocab.LOCATION_TYPE_211[loc.parking_type]
    else:
        out["publish"] = not loc.private
        if loc.allowed:
            out["publish_allowed_to"] = [dict(entry) for entry in loc.allowed]
    if loc.name is not None:
        out["name"] = loc.name
    out.update(address=loc.address, city=loc.city, postal_code=loc.postal_code)
    if version != V211 and loc.state is not None:
        out["state"] = loc.state
    out["country"] = loc.country
    out["coordinates"] = {"latitude": loc.latitude, "longitude": loc.longitude}
    if version != V211:
        out["parking_type"] = loc.parking_type
    out["evses"] = _evses(loc, version, lu0=lu0, fmt=fmt, state=evse_state or {}, only=only)
    if version == V230 and loc.kind == "public":
        out["parking_places"] = [
            {
                "id": str(n + 1),
                "physical_reference": f"P{n + 1}",
                "vehicle_types": ["PERSONAL_VEHICLE"],
                "restricted_to_type": True,
                "reservation_required": False,
            }
            for n in range(len(loc.evses))
        ]
    if loc.directions is not None:
        out["directions"] = [{"language": "de", "text": loc.directions}]
    out["operator"] = OPERATOR
    if loc.owner is not None:
        out["owner"] = {"name": loc.owner}
    facilities = [f for f in loc.facilities if version != V211 or f in FACILITIES_211]
    if facilities:
        out["facilities"] = facilities
    out["time_zone"] = loc.time_zone
    out["opening_times"] = opening_times(loc, version)
    if loc.regular_hours:
        out["charging_when_closed"] = loc.kind != "restricted"
    if loc.green or loc.kind == "public":
        out["energy_mix"] = energy_mix(version, loc.green, loc.supplier)
    if version == V230 and loc.kind == "public":
        out["help_phone"] = loc.help_phone
    out["last_updated"] = fmt(lu)
    return out


def _evses(
    loc: LocationFacts,
    version: str,
    *,
    lu0: int,
    fmt: Formatter,
    state: dict[int, tuple[str, int]],
    only: tuple[int, int] | None,
) -> list[Obj]:
    out = []
    for n, e in enumerate(loc.evses):
        if only is not None and n != only[0]:
            continue
        status, changed = state.get(n, (e.status, lu0 - e.age_s))
        out.append(
            evse(
                e,
                version,
                status=status,
                lu=fmt(changed),
                kind=loc.kind,
                only_connector=None if only is None else only[1],
            )
        )
    return out


# ---- tariffs and tokens ---------------------------------------------------------------


def tariff(t: TariffFacts, version: str, lu: int, fmt: Formatter) -> Obj:
    out: Obj = owner_fields(version, CPO_PARTY)
    out.update(id=t.id, currency="EUR")
    if version != V211:
        out["type"] = t.type
    kind = "DC" if t.dc else "AC"
    out["tariff_alt_text"] = [
        {"language": "de", "text": f"{kind}-Laden: {t.energy:.2f} EUR/kWh zzgl. MwSt."},
        {"language": "en", "text": f"{kind} charging: {t.energy:.2f} EUR/kWh excl. VAT"},
    ]
    out["tariff_alt_url"] = f"https://www.voltaro.example/tarife/{t.id}"
    if version != V211 and t.min_price is not None:
        out["min_price"] = (
            {"before_taxes": t.min_price, "after_taxes": round(t.min_price * 1.19, 2)}
            if version == V230
            else PRICE[version](t.min_price, t.vat)
        )
    out["elements"] = [
        {"price_components": [_component(version, dim, price, step, t.vat)]}
        for dim, price, step in _components(t)
    ]
    if version == V230:
        out["tax_included"] = "NO"
    if version != V211 and t.start is not None:
        out["start_date_time"] = fmt(t.start)
    if t.green:
        out["energy_mix"] = energy_mix(version, True, vocab.SUPPLIERS[0])
    out["last_updated"] = fmt(lu)
    return out


def _components(t: TariffFacts) -> list[tuple[str, float, int]]:
    out = [("ENERGY", t.energy, 1)]
    if t.flat is not None:
        out.append(("FLAT", t.flat, 1))
    if t.time is not None:
        out.append(("TIME", t.time, 60))
    if t.parking is not None:
        out.append(("PARKING_TIME", t.parking, 300))
    return out


def _component(version: str, dim: str, price: float, step: int, vat: float) -> Obj:
    if version == V211:
        return {"type": dim, "price": price, "step_size": step}
    return {"type": dim, "price": price, "vat": vat, "step_size": step}


def token(t: TokenFacts, version: str, lu: int, fmt: Formatter) -> Obj:
    if version == V211:
        out: Obj = {"uid": t.uid, "type": TOKEN_TYPE_211[t.type], "auth_id": t.contract_id}
    else:
        out = owner_fields(version, EMSP_PARTY)
        out.update(uid=t.uid, type=t.type, contract_id=t.contract_id)
    if t.visual_number is not None:
        out["visual_number"] = t.visual_number
    out["issuer"] = t.issuer
    if version != V211 and t.group_id is not None:
        out["group_id"] = t.group_id
    out.update(valid=t.valid, whitelist=t.whitelist, language=t.language)
    if version != V211 and t.profile is not None:
        out["default_profile_type"] = t.profile
    if version != V211 and t.energy_supplier is not None:
        contract: Obj = {"supplier_name": t.energy_supplier}
        if t.energy_contract_id is not None:
            contract["contract_id"] = t.energy_contract_id
        out["energy_contract"] = contract
    out["last_updated"] = fmt(lu)
    return out


def client(c: ClientFacts, lu: int, fmt: Formatter) -> Obj:
    return {
        "party_id": c.party_id,
        "country_code": c.country_code,
        "role": c.role,
        "status": c.status,
        "last_updated": fmt(lu),
    }


# ---- sessions and CDRs ----------------------------------------------------------------


def _dimensions(p: Period, version: str, for_cdr: bool, amperage: int) -> list[Obj]:
    if p.parking:
        return [{"type": "PARKING_TIME", "volume": p.hours}]
    dims: list[Obj] = [{"type": "ENERGY", "volume": p.kwh}, {"type": "TIME", "volume": p.hours}]
    if version == V211:
        if not for_cdr:
            dims.append({"type": "MAX_CURRENT", "volume": amperage})
        return dims
    dims.append({"type": "MAX_POWER", "volume": p.power_kw})
    if not for_cdr and p.soc is not None:  # STATE_OF_CHARGE is a session-only dimension
        dims.append({"type": "STATE_OF_CHARGE", "volume": p.soc})
    return dims


def charging_periods(
    s: SessionFacts, version: str, fmt: Formatter, for_cdr: bool, amperage: int
) -> list[Obj]:
    out = []
    for p in s.periods:
        period: Obj = {
            "start_date_time": fmt(p.start),
            "dimensions": _dimensions(p, version, for_cdr, amperage),
        }
        if version != V211:
            period["tariff_id"] = f"TRF{s.tariff:04d}"
        out.append(period)
    return out


def cdr_token(world: World, s: SessionFacts) -> Obj:
    t = world.token(s.token)
    return {
        "country_code": EMSP_PARTY[0],
        "party_id": EMSP_PARTY[1],
        "uid": t.uid,
        "type": t.type,
        "contract_id": t.contract_id,
    }


def session(world: World, s: SessionFacts, version: str, lu: int, fmt: Formatter) -> Obj:
    loc = world.location(s.location)
    conn = loc.evses[s.evse].connectors[s.connector]
    vat = world.tariff(s.tariff).vat
    out: Obj = owner_fields(version, CPO_PARTY)
    out["id"] = s.id
    v211 = version == V211
    out["start_datetime" if v211 else "start_date_time"] = fmt(s.start)
    if s.end is not None:
        out["end_datetime" if v211 else "end_date_time"] = fmt(s.end)
    out["kwh"] = s.kwh
    if v211:
        out["auth_id"] = world.token(s.token).contract_id
        out["auth_method"] = AUTH_METHOD_211[s.auth_method]
        out["location"] = embedded_location(world, s, fmt)
    else:
        out["cdr_token"] = cdr_token(world, s)
        out["auth_method"] = s.auth_method
        if s.authorization_reference is not None:
            out["authorization_reference"] = s.authorization_reference
        out.update(location_id=loc.id, evse_uid=loc.evses[s.evse].uid, connector_id=conn.id)
    if s.meter_id is not None:
        out["meter_id"] = s.meter_id
    out["currency"] = "EUR"
    out["charging_periods"] = charging_periods(s, version, fmt, False, conn.amperage)
    if s.status != "INVALID":
        out["total_cost"] = PRICE[version](s.cost_total, vat)
    out["status"] = s.status
    out["last_updated"] = fmt(lu)
    return out


def embedded_location(world: World, s: SessionFacts, fmt: Formatter) -> Obj:
    """2.1.1 sessions and CDRs carry the Location with only the EVSE/connector used,
    as it looked when the session started."""
    loc = world.location(s.location)
    snapshot = min(world.location_lu(loc.index), s.start)
    return location(loc, V211, lu=snapshot, lu0=snapshot, fmt=fmt, only=(s.evse, s.connector))


def cdr_location(world: World, s: SessionFacts) -> Obj:
    loc = world.location(s.location)
    e = loc.evses[s.evse]
    c = e.connectors[s.connector]
    out: Obj = {"id": loc.id}
    if loc.name is not None:
        out["name"] = loc.name
    out.update(address=loc.address, city=loc.city, postal_code=loc.postal_code)
    if loc.state is not None:
        out["state"] = loc.state
    out.update(
        country=loc.country,
        coordinates={"latitude": loc.latitude, "longitude": loc.longitude},
        evse_uid=e.uid,
        evse_id=e.evse_id,
        connector_id=c.id,
        connector_standard=c.standard,
        connector_format=c.format,
        connector_power_type=c.power_type,
    )
    return out


def cdr_id(session_index: int, kind: str) -> str:
    base = f"CDR{session_index:09d}"
    return {"normal": base, "credit": f"{base}-C", "rebill": f"{base}-R"}[kind]


def remark(s: SessionFacts, kind: str) -> str | None:
    if kind == "credit":
        return f"Gutschrift zu {cdr_id(s.index, 'normal')}: Tarifkorrektur"
    if kind == "rebill":
        return f"Korrigierte Abrechnung zu {cdr_id(s.index, 'normal')}"
    if s.remark_name is not None:
        return f"Kunde {s.remark_name} meldete telefonisch ein klemmendes Ladekabel"
    return None


def signed_data(world: World, s: SessionFacts) -> Obj:
    """OCMF-style signed meter values: they embed the meter serial and the RFID uid,
    which is why the whole object counts as personal data."""
    uid = world.token(s.token).uid
    start_wh = 1_000_000 + (s.index % 90_000) * 37
    values = []
    r = Rng(world.seed, 0x516, s.index)
    for nature, when, reading in (
        ("Start", s.start, start_wh),
        ("End", s.end or s.start, start_wh + round(s.kwh * 1000)),
    ):
        plain = (
            f'OCMF|{{"FV":"1.0","GI":"VOLTARO AC","GS":"{s.meter_id}","PG":"T{s.index}",'
            f'"IS":true,"IT":"ISO14443","ID":"{uid}","RD":[{{"TM":"{fmt_z(when)}",'
            f'"TX":"{nature[0]}","RV":{reading / 1000:.3f},"RI":"1-b:1.8.0","RU":"kWh"}}]}}'
        )
        sig = base64.b64encode(r.bytes64()).decode()
        values.append({"nature": nature, "plain_data": plain, "signed_data": sig})
    return {
        "encoding_method": "OCMF",
        "encoding_method_version": 1,
        "public_key": meter_public_key(world.seed, s.meter_id or ""),
        "signed_values": values,
        "url": VERIFY_URL,
    }


def meter_public_key(seed: int, meter_id: str) -> str:
    return base64.b64encode(Rng(seed, 0x9B7, *meter_id.encode()).bytes64()).decode()


def cdr(world: World, s: SessionFacts, *, kind: str, version: str, lu: int, fmt: Formatter) -> Obj:
    """A CDR for a completed session; `kind` credit negates the amounts of the original,
    rebill re-issues it with a 10 % discount."""
    t = world.tariff(s.tariff)
    v211 = version == V211
    out: Obj = owner_fields(version, CPO_PARTY)
    out["id"] = cdr_id(s.index, kind)
    out["start_date_time"] = fmt(s.start)
    out["stop_date_time" if v211 else "end_date_time"] = fmt(s.end or s.start)
    if v211:
        out["auth_id"] = world.token(s.token).contract_id
        out["auth_method"] = AUTH_METHOD_211[s.auth_method]
        out["location"] = embedded_location(world, s, fmt)
    else:
        out["session_id"] = s.id
        out["cdr_token"] = cdr_token(world, s)
        out["auth_method"] = s.auth_method
        if s.authorization_reference is not None:
            out["authorization_reference"] = s.authorization_reference
        out["cdr_location"] = cdr_location(world, s)
    if s.meter_id is not None:
        out["meter_id"] = s.meter_id
    out["currency"] = "EUR"
    out["tariffs"] = [tariff(t, version, min(world.tariff_lu(t.index), s.start), fmt)]
    conn = world.location(s.location).evses[s.evse].connectors[s.connector]
    out["charging_periods"] = charging_periods(s, version, fmt, True, conn.amperage)
    if not v211 and s.signed and kind != "credit":
        out["signed_data"] = signed_data(world, s)
    out.update(_cdr_totals(s, t, kind, version))
    text = remark(s, kind)
    if text is not None:
        out["remark"] = text
    if not v211:
        out.update(_cdr_flags(world, s, kind))
    out["last_updated"] = fmt(lu)
    return out


def _cdr_totals(s: SessionFacts, t: TariffFacts, kind: str, version: str) -> Obj:
    """total_* fields in spec order; 2.1.1 has no per-dimension costs."""
    factor = {"normal": 1.0, "credit": -1.0, "rebill": 0.9}[kind]
    price = PRICE[version]
    v211 = version == V211
    out: Obj = {"total_cost": price(s.cost_total * factor, t.vat)}
    if not v211 and s.cost_fixed:
        out["total_fixed_cost"] = price(s.cost_fixed * factor, t.vat)
    out["total_energy"] = s.kwh
    if not v211:
        out["total_energy_cost"] = price(s.cost_energy * factor, t.vat)
    out["total_time"] = round(s.charge_hours + s.parking_hours, 3)
    if not v211 and t.time is not None:
        out["total_time_cost"] = price(s.cost_time * factor, t.vat)
    if s.parking_hours:
        out["total_parking_time"] = round(s.parking_hours, 3)
        if not v211 and t.parking is not None:
            out["total_parking_cost"] = price(s.cost_parking * factor, t.vat)
    return out


def _cdr_flags(world: World, s: SessionFacts, kind: str) -> Obj:
    out: Obj = {}
    if s.invoice is not None and kind == "normal":
        out["invoice_reference_id"] = s.invoice
    if kind == "credit":
        out["credit"] = True
        out["credit_reference_id"] = cdr_id(s.index, "normal")
    if world.location(s.location).kind == "home":
        out["home_charging_compensation"] = True
    return out
