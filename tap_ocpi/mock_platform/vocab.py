"""Word lists for realistic, ASCII-only test data (2.1.1 strings must be printable ASCII).

Public and private places draw street names from *disjoint* lists, so a private address
can never also appear legitimately on a public location: leak tests may grep for it.
"""

from __future__ import annotations

from typing import NamedTuple


class City(NamedTuple):
    name: str
    country: str  # ISO 3166-1 alpha-3
    postal_prefix: str  # first digits; the rest is generated
    latitude: float
    longitude: float
    time_zone: str
    state: str | None


CITIES: tuple[City, ...] = (
    City("Berlin", "DEU", "10", 52.520008, 13.404954, "Europe/Berlin", "Berlin"),
    City("Hamburg", "DEU", "20", 53.551086, 9.993682, "Europe/Berlin", "Hamburg"),
    City("Muenchen", "DEU", "80", 48.137154, 11.576124, "Europe/Berlin", "Bayern"),
    City("Koeln", "DEU", "50", 50.937531, 6.960279, "Europe/Berlin", "Nordrhein-Westfalen"),
    City("Frankfurt am Main", "DEU", "60", 50.110924, 8.682127, "Europe/Berlin", "Hessen"),
    City("Stuttgart", "DEU", "70", 48.775845, 9.182932, "Europe/Berlin", "Baden-Wuerttemberg"),
    City("Duesseldorf", "DEU", "40", 51.227741, 6.773456, "Europe/Berlin", "Nordrhein-Westfalen"),
    City("Leipzig", "DEU", "04", 51.339695, 12.373075, "Europe/Berlin", "Sachsen"),
    City("Hannover", "DEU", "30", 52.375892, 9.732010, "Europe/Berlin", "Niedersachsen"),
    City("Nuernberg", "DEU", "90", 49.452103, 11.076665, "Europe/Berlin", "Bayern"),
    City("Bremen", "DEU", "28", 53.079296, 8.801694, "Europe/Berlin", "Bremen"),
    City(
        "Freiburg im Breisgau",
        "DEU",
        "79",
        47.999008,
        7.842104,
        "Europe/Berlin",
        "Baden-Wuerttemberg",
    ),
    City("Muenster", "DEU", "48", 51.960665, 7.626135, "Europe/Berlin", "Nordrhein-Westfalen"),
    City("Heidelberg", "DEU", "69", 49.398750, 8.672434, "Europe/Berlin", "Baden-Wuerttemberg"),
    City("Utrecht", "NLD", "35", 52.090737, 5.121420, "Europe/Amsterdam", None),
    City("Amsterdam", "NLD", "10", 52.367573, 4.904139, "Europe/Amsterdam", None),
    City("Gent", "BEL", "90", 51.054342, 3.717424, "Europe/Brussels", None),
    City("Wien", "AUT", "11", 48.208176, 16.373819, "Europe/Vienna", None),
)

PUBLIC_STREETS: tuple[str, ...] = (
    "Bahnhofstrasse",
    "Industriestrasse",
    "Marktplatz",
    "Am Messeplatz",
    "Hafenstrasse",
    "Gewerbering",
    "Kaiserstrasse",
    "Europaallee",
    "Parkhaus am Rathaus",
    "Raststaette Nord",
    "Einkaufszentrum Ost",
    "Poststrasse",
    "Stadionallee",
    "Flughafenstrasse",
    "Ringstrasse",
)

# Residential, deliberately unusual: these appear only on private (home/restricted) places.
PRIVATE_STREETS: tuple[str, ...] = (
    "Krautwigweg",
    "Am Lerchenberg",
    "Ginsterpfad",
    "Holunderstieg",
    "Zum Kesselgrund",
    "Brombeerhecke",
    "Am Wachtelschlag",
    "Mispelweg",
    "Unter den Ulmen",
    "Eulenhorst",
    "Am Sauerbrunnen",
    "Quittenweg",
    "Dohlenwinkel",
    "Schlehdornweg",
    "Am Fuchsbau",
    "Hagebuttenring",
    "Wiesenknopfweg",
    "Im Hasenwinkel",
    "Moorlandstieg",
    "Birkhahnweg",
)

FIRST_NAMES: tuple[str, ...] = (
    "Katharina",
    "Jannik",
    "Friederike",
    "Maximilian",
    "Annelie",
    "Benedikt",
    "Ottilie",
    "Leopold",
    "Hanna-Sophie",
    "Kasimir",
    "Wiebke",
    "Florentin",
    "Rosalie",
    "Tjark",
    "Josefine",
    "Quirin",
    "Marlene",
    "Korbinian",
    "Henrike",
    "Vitus",
    "Thea",
    "Bartholomaeus",
)

LAST_NAMES: tuple[str, ...] = (
    "Brandauer",
    "Weissenfels",
    "Oberhuber",
    "Kesselring",
    "Lichtenberg",
    "Duerrschmidt",
    "Hagedorn",
    "Wolkenstein",
    "Pfefferkorn",
    "Rosenthaler",
    "Eichenlaub",
    "Sturmfeder",
    "Falkenhayn",
    "Morgenroth",
    "Silbermann",
    "Tannhaeuser",
    "Gruenwald",
    "Achterberg",
    "Brinkmeier",
    "Haselbeck",
    "Quandtmeyer",
    "Zaunkoenig",
)

COMPANIES: tuple[str, ...] = (
    "Nordlicht Logistik GmbH",
    "Kranich Software AG",
    "Baeckerei Sonnenkorn KG",
    "Stadtwerke Lindenau",
    "Hansekontor Spedition",
    "Bergmann Maschinenbau GmbH",
)

SUPPLIERS: tuple[tuple[str, str], ...] = (
    ("Nordwind Energie eG", "Nordwind Oekostrom"),
    ("Stadtwerke Lindenau", "Lindenau Strom Natur"),
    ("Alpenstrom AG", "Alpenstrom Wasserkraft"),
    ("Rheinland Energie", "RE Klassik"),
)

HOME_NAMES: tuple[str, ...] = ("Wallbox", "Carport", "Garage", "Einfahrt")

LANGUAGES: tuple[str, ...] = ("de", "de", "de", "en", "nl", "fr", "it")

PUBLIC_NAMES: tuple[str, ...] = (
    "Ladepark",
    "Parkhaus",
    "Schnellladestation",
    "Supermarkt",
    "P+R",
    "Hotel",
    "Autohof",
)

# 2.1.1 subsets first; 2.2+ adds the rest (see the digest, section 6.6).
FACILITIES_211: tuple[str, ...] = (
    "HOTEL",
    "RESTAURANT",
    "CAFE",
    "MALL",
    "SUPERMARKET",
    "SPORT",
    "RECREATION_AREA",
    "NATURE",
    "MUSEUM",
    "BUS_STOP",
    "TAXI_STAND",
    "TRAIN_STATION",
    "AIRPORT",
    "CARPOOL_PARKING",
    "FUEL_STATION",
    "WIFI",
)
FACILITIES_22: tuple[str, ...] = ("BIKE_SHARING", "TRAM_STOP", "METRO_STATION", "PARKING_LOT")

CAPABILITIES_211: tuple[str, ...] = (
    "CHARGING_PROFILE_CAPABLE",
    "CREDIT_CARD_PAYABLE",
    "REMOTE_START_STOP_CAPABLE",
    "RESERVABLE",
    "RFID_READER",
    "UNLOCK_CAPABLE",
)
CAPABILITIES_22: tuple[str, ...] = (
    "CONTACTLESS_CARD_SUPPORT",
    "CHIP_CARD_SUPPORT",
    "TOKEN_GROUP_CAPABLE",
)

PARKING_TYPES: tuple[str, ...] = (
    "ON_STREET",
    "PARKING_GARAGE",
    "PARKING_LOT",
    "UNDERGROUND_GARAGE",
    "ALONG_MOTORWAY",
)
# 2.1.1 LocationType for each 2.2+ ParkingType (ALONG_MOTORWAY/ON_DRIVEWAY have no match).
LOCATION_TYPE_211: dict[str, str] = {
    "ON_STREET": "ON_STREET",
    "PARKING_GARAGE": "PARKING_GARAGE",
    "PARKING_LOT": "PARKING_LOT",
    "UNDERGROUND_GARAGE": "UNDERGROUND_GARAGE",
    "ALONG_MOTORWAY": "OTHER",
    "ON_DRIVEWAY": "OTHER",
}

HUB_PARTIES: tuple[tuple[str, str], ...] = (
    ("NL", "TNM"),
    ("DE", "EWE"),
    ("BE", "BEC"),
    ("AT", "SMT"),
    ("FR", "IZV"),
    ("DE", "ELX"),
    ("NL", "NUO"),
    ("DE", "HTB"),
    ("CH", "SWS"),
    ("DK", "CLV"),
    ("SE", "VTF"),
    ("IT", "ENX"),
)
