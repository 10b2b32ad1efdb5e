"""Does an agent's message ask for the sale, or propose an upsell? Documented Finnish and
English patterns (docs/analytics.md, "Selling in chat"), matched on the case-folded text.

The chat guide in ../shared/seeds/ asks agents to close (offer to complete the order) and to
suggest what goes with the cart ("lisämyynti on samalla hyvää asiakaspalvelua"). These patterns
catch the common phrasings of both; they are deliberately specific, because a false "asked for
the sale" is worse for an agent's numbers than a missed one.
"""

from __future__ import annotations

import re

_ASK_FI = (
    # "Haluatko tilata sen nyt?", "Voinko lisätä sen ostoskoriisi?", "Laitanko tilauksen?"
    r"\b(haluatko|haluaisitko|haluaisit|voinko|saanko|laitanko|lisäänkö|tehdäänkö|laitetaanko)\b"
    r"[^.?!]{0,40}\b(tilat|tilau|tilaa|ost[aeo]|varat|varaa|ostoskori|koriin|korii)",
    r"\b(tilaa|osta|varaa) (se |ne |tuote |tämä )?(nyt|heti|saman tien)\b",
    r"\b(siirry|jatka|pääset|voit siirtyä) (nyt )?(kassalle|maksamaan|tilaamaan)",
    r"\bviimeistel\w* (tilau|osto)",
    r"\b(tilauksen|oston|ostoksen|ostosten) loppuun",
    r"\bvoit (nyt |jo )?(tilata|ostaa|maksaa)\b",
)
_ASK_EN = (
    r"\b(would|do) you (like|want) to (order|buy|purchase|check ?out|go ahead|place)",
    r"\b(shall|should|can|may) i (add|put|place|reserve|order|book)\b",
    r"\bready to (order|buy|check ?out|purchase)",
    r"\b(complete|finish|finalize|finalise|place) (your|the) (order|purchase|checkout)",
    r"\b(add|put) (it|them|this|these|that|those) (to|in|into) (your |the )?(cart|basket)",
    r"\bgo ahead (and|with) (the )?(order|purchase)",
)
_UPSELL_FI = (
    r"\b(suosittelen|suosittelisin|kannattaa|kannattaisi) (myös|lisäksi|samalla|ottaa)\b",
    r"\b(sopii|sopisi|käy|kävisi) (hyvin |täydellisesti )?(yhteen|pariksi|sen kanssa|tämän kanssa)",
    r"\b(lisävaruste|lisätarvike|kaupan päälle|pakettitarjou|settitarjou|tuotepaketti)",
    r"\b(isompi|isomman|tehokkaampi|tehokkaamman|parempi|paremman) (malli|mallin|versio|version|koko|koon)",
    r"\b(ilmainen toimitus|ilmaisen toimituksen|ilmaiseen toimitukseen|toimituskuluitta)",
    r"\b(tarvitsetko|tarvitsisitko|haluatko|haluaisitko) (myös|lisäksi|samalla)\b",
    r"\bentä (myös|lisäksi)\b",
)
_UPSELL_EN = (
    r"\byou (might|may|could|would) also (like|want|need|consider|enjoy)",
    r"\b(goes|go|pairs|pair|works|work) (well|great|nicely|perfectly) with",
    r"\b(also|additionally) recommend",
    r"\b(would|do) you also (like|want|need)",
    r"\bwould you like to add\b",
    r"\b(upgrade|bundle|add-on|accessory|accessories|combo deal)\b",
    r"\bfree (shipping|delivery) (over|above|if|when|from)\b",
    r"\b(bigger|larger|premium|pro) (model|version|size|pack)\b",
)

ASKS_FOR_SALE = re.compile("|".join(f"(?:{p})" for p in _ASK_FI + _ASK_EN))
PROPOSES_UPSELL = re.compile("|".join(f"(?:{p})" for p in _UPSELL_FI + _UPSELL_EN))


def asks_for_sale(text: str) -> bool:
    return ASKS_FOR_SALE.search(text.casefold()) is not None


def proposes_upsell(text: str) -> bool:
    return PROPOSES_UPSELL.search(text.casefold()) is not None
