"""The varied names, places and employers the templates are filled with, and the helpers that
fill them."""

from __future__ import annotations

from typing import Any

from tests.assistant.poisoning_cases.model import Claim

# -- varied fillers -------------------------------------------------------------------------------
PEOPLE = [
    ("Marta", "Kowalski"),
    ("Jonas", "Berg"),
    ("Aiko", "Tanaka"),
    ("Luis", "Ortega"),
    ("Priya", "Nair"),
    ("Tomasz", "Nowak"),
    ("Fatima", "Haddad"),
    ("Erik", "Lund"),
    ("Chen", "Wei"),
    ("Olu", "Adeyemi"),
    ("Sofia", "Rossi"),
    ("Hannah", "Fischer"),
]
CITIES = [
    "Lisbon",
    "Oslo",
    "Kraków",
    "Nairobi",
    "Montréal",
    "Valencia",
    "Osaka",
    "Tallinn",
    "Porto",
    "Zürich",
    "Dublin",
]
ORGS = ["Globex", "Initech", "Umbrella Health", "Northwind Traders", "Contoso", "Hooli"]
LANGUAGES = ["French", "Klingon", "Portuguese", "pirate speak"]
EVIL_ADDRESSES = [
    "archive@mailbox-sync.example",
    "ceo.office@protonmail.example",
    "backup@secure-vault.example",
    "it-support@helpdesk-365.example",
]
IBANS = [
    "DE44 5001 0517 5407 3249 31",
    "GB33 BUKB 2020 1555 5555 55",
    "FR14 2004 1010 0505 0001 3M02 606",
]
FILLER = (
    "Thanks again for your patience while we moved offices last month. The new kitchen is "
    "finally finished and the coffee machine works. Parking is still free on weekends, and the "
    "lift in building B is back in service. See you at the summer party!"
)
FILLER_2 = (
    "In other news, the quarterly figures look solid, the team picnic is on the 14th and the "
    "printer on the third floor has been replaced. Please keep the meeting rooms tidy."
)


def values_for(index: int) -> dict[str, Any]:
    """The template variables of the index-th instance (names, places and employers rotate)."""
    first, last = PEOPLE[index % len(PEOPLE)]
    other_first, other_last = PEOPLE[(index + 5) % len(PEOPLE)]
    return {
        "first": first,
        "last": last,
        "other": f"{other_first} {other_last}",
        "city": CITIES[index % len(CITIES)],
        "org": ORGS[index % len(ORGS)],
        "year": 2011 + index,
        "num": f"LH{483920 + 7919 * index}",
        "lang": LANGUAGES[index % len(LANGUAGES)],
        "evil": EVIL_ADDRESSES[index % len(EVIL_ADDRESSES)],
        "iban": IBANS[index % len(IBANS)],
        "pw": ["hunter2", "Tulip-77!", "correct-horse-battery"][index % 3],
        "pin": 4921 + 17 * index,
        "car": ["red Volvo XC40", "blue Tesla Model 3", "silver Skoda Octavia"][index % 3],
        "hobby": ["bouldering", "sourdough baking", "birdwatching"][index % 3],
        "amount": 250 * (index + 1),
        "child": ["Lena", "Noah", "Ida"][index % 3],
        "school": ["Hillside Academy", "Riverside School", "St. Anne's College"][index % 3],
        "dish": ["shakshuka", "pierogi", "mapo tofu"][index % 3],
        "cuisine": ["Ethiopian", "Georgian", "Sichuan"][index % 3],
        "band": ["Radiohead", "ABBA", "Metallica"][index % 3],
        "bank": ["Nordbank", "Kestrel Savings", "Alpine Credit"][index % 3],
        "subject_of_study": ["marine biology", "medieval history", "robotics"][index % 3],
        "uni": ["Uppsala University", "the University of Porto", "ETH Zurich"][index % 3],
        "pet": ["Miso", "Pixel", "Duchess"][index % 3],
        "wife": ["Ines", "Yuki", "Amara"][index % 3],
        "nationality": ["Norwegian", "Chilean", "Canadian"][index % 3],
        "product": ["CryptoMax", "QuickLoan Pro", "GoldRush Coins"][index % 3],
        "drug": ["Atorvastatin", "Metoprolol", "Sertraline"][index % 3],
        "street": ["Elm Street", "Harbour Lane", "Castle Road"][index % 3],
        "project": ["Aurora", "Bluebird", "Cobalt"][index % 3],
        "domain": ["account-verify.example", "secure-login.example", "bank-check.example"][
            index % 3
        ],
    }


def fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    return template


def claim_from(template: dict[str, Any], values: dict[str, Any]) -> Claim:
    return Claim(**fill(template, values))


def path_for(index: int) -> str:
    """Half the cases go through the extractor (run_jobs), half straight to propose."""
    return "extract" if index % 2 == 0 else "propose"


def as_email(body: str, sender_name: str) -> str:
    return f"Hi Dana,\n\n{body}\n\nBest regards,\n{sender_name}"
