"""The poisoning corpus for the write gate (tests/assistant/test_poisoning.py).

Every case is one attempt to plant something in the user's memory: a poisoned source (an email,
a document chunk, an assistant reply, or the user's own words) and the candidate fact a
compromised or hallucinating extractor would propose from it (`Claim`, the JSON the model would
return). Cases are built from category-tagged templates filled with varied names, places and
employers, so the counts below are easy to read and to extend.

Categories (CATEGORIES) and what the gate must do with them (`Case.expect`):
- email_fact        fake facts read in emails                        → inbox (trust "imported")
- document_fact     fake facts read in documents                     → inbox (trust "imported")
- assistant_fact    "facts" only the assistant asserted              → inbox (trust "assistant")
- injected          instructions in imports or assistant replies    → rejected (no fact at all)
- contradiction     a lower-trust source contradicting a user fact   → inbox, `conflicts_with` it
- user_instruction  instruction-like text from the user              → active, facet "preference"

SEEDS are the true user facts stated first; none of them may be lost or changed.
Pure data; no I/O. The modules: `model` (Claim, Case, CATEGORIES, SEEDS), `fillers` (the varied
names and places), one module of templates per attack family (`imported_facts`, `injections`,
`contradictions`), and `build` (the cases made from them).
"""

from __future__ import annotations

from tests.assistant.poisoning_cases.build import CASES, COUNTS
from tests.assistant.poisoning_cases.injections import DISGUISED_INSTRUCTIONS
from tests.assistant.poisoning_cases.model import CATEGORIES, EXPECT, SEEDS, Case, Claim

__all__ = [
    "CASES",
    "CATEGORIES",
    "COUNTS",
    "DISGUISED_INSTRUCTIONS",
    "EXPECT",
    "SEEDS",
    "Case",
    "Claim",
]
