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
    # "Haluatko tilata sen nyt?", "Voinko lisätä sen ostoskoriisi?" — an ordering verb, not
    # "tilauksesi" or "tilausnumero" (order status questions are service, not selling).
    r"\b(haluatko|haluaisitko|haluaisit|voinko|saanko|lisäänkö|sopisiko)\b[^.?!]{0,40}"
    r"\b(tilata|tilaamaan|ostaa|ostamaan|varata|varaamaan|ostoskoriisi|ostoskoriin|koriin|koriisi|korillesi)\b",
    # "Haluatko, että teen tilauksen puolestasi?" (but not "…että perun tilauksen?")
    r"\b(voinko|saanko|haluatko|haluaisitko|sopisiko)\b[^.?!]{0,30}\b(teen|tehdä|laitan|laittaa) "
    r"(sinulle |puolestasi )?(tilauksen|tilaus)\b",
    r"\b(tehdäänkö|laitetaanko|laitanko|teenkö) (se |ne |sinulle )?tilaus\b",
    r"\bmaksulink",  # "lähetänkö maksulinkin?": closing the sale
    r"\b(tilaa|osta|varaa) (se |ne |tuote |tämä )?(nyt|heti|saman tien)\b",
    r"\b(siirry|jatka|pääset|voit siirtyä) (nyt )?(kassalle|maksamaan|tilaamaan)",
    r"\bviimeistel\w* (tilau|osto)",
    r"\b(tilauksen|oston|ostoksen|ostosten) loppuun",
    r"\bvoit (nyt |jo )?(tilata|ostaa)\b",
)
_ASK_EN = (
    r"\b(would|do) you (like|want) to (order|buy|purchase|go ahead|place)\b",
    r"\b(would|do) you (like|want) to check ?out\b(?! (our|the|this|these|my|a)\b)",
    r"\b(shall|should|can|may) i (add|put)\b[^.?!]{0,30}\b(cart|basket|order)\b",
    r"\b(shall|should|can|may) i reserve (it|one|them)\b",
    r"\b(shall|should|can|may) i (place (the|your) order|reserve (it|one|them) for you|order (it|one|them) for you)",
    r"\b(shall|should) we (get|have) (that|it|this|them) ordered",
    r"\bpayment link\b",
    r"\bready to (order|buy|check ?out|purchase)",
    r"\b(complete|finish|finalize|finalise|place) (your|the) (order|purchase|checkout)",
    r"\b(add|put) (it|them|this|these|that|those) (to|in|into) (your |the )?(cart|basket)",
    r"\bgo ahead (and|with) (the )?(order|purchase)",
)
# Troubleshooting and service advice look like suggestions ("kannattaa myös tarkistaa…").
_ADVICE = r"(\w+ )?(tarkist|päivit|tyhjen|kokeil|käynnist|kirjau|kirjaut|odott|luke|lukem|ottaa yhteyttä|ottamaan yhteyttä|apua|neuvo|tietoa|muuta)"
_UPSELL_FI = (
    rf"\b(suosittelen|suosittelisin|kannattaa|kannattaisi) (myös|lisäksi|samalla|ottaa)\b(?! {_ADVICE})",
    r"\b(sopii|sopisi|käy|kävisi) (hyvin |täydellisesti )?(yhteen|pariksi|sen kanssa|tämän kanssa)",
    r"\b(lisävaruste|lisätarvike|kaupan päälle|pakettitarjou|settitarjou|tuotepaketti)",
    r"\b(isompi|isomman|tehokkaampi|tehokkaamman|parempi|paremman) (malli|mallin|versio|version|koko|koon)",
    # Free shipping as a nudge: with a threshold ("yli 100 €", "vielä 6 €").
    r"\b(yli|vielä|alkaen)\b[^.?!]{0,30}(ilmai\w* toimitu|toimituskuluitta)",
    r"(ilmainen toimitus|ilmaisen toimituksen|ilmaiseen toimitukseen|toimituskuluitta)[^.?!]{0,30}\b(yli|kun|jos|alkaen|vielä)\b",
    rf"\b(tarvitsetko|tarvitsisitko|haluatko|haluaisitko) (myös|lisäksi|samalla)\b(?! {_ADVICE})",
    r"\bentä (myös|lisäksi)\b",
)
_NOT_A_PRODUCT = (
    r"(a |an |the |any )?(receipt|help|assistance|anything|copy|invoice|refund|return label|hand)"
)
_UPSELL_EN = (
    r"\byou (might|may|could|would) also (like|want|need|consider|enjoy)",
    r"\b(goes|go|pairs|pair|works|work) (really |very |so )?(well|great|nicely|perfectly) with",
    r"\b(also|additionally) recommend",
    rf"\b(would|do) you also (like|want|need)\b(?! {_NOT_A_PRODUCT}\b)",
    r"\bwould you like to add\b",
    r"\b(bundle|add-on|accessory|accessories|combo deal)\b",
    r"\bupgrade to (a |the )?[^.?!]{0,20}\b(model|version|size|pack|kit)\b",
    r"\bfree (shipping|delivery) (over|above|if|when|from)\b",
    r"\b(over|above)\b[^.?!]{0,30}\bfree (shipping|delivery)",
    r"\baway from free (shipping|delivery)",
    r"\b(bigger|larger|premium|pro) (model|version|size|pack)\b",
)

ASKS_FOR_SALE = re.compile("|".join(f"(?:{p})" for p in _ASK_FI + _ASK_EN))
PROPOSES_UPSELL = re.compile("|".join(f"(?:{p})" for p in _UPSELL_FI + _UPSELL_EN))


def asks_for_sale(text: str) -> bool:
    return ASKS_FOR_SALE.search(text.casefold()) is not None


def proposes_upsell(text: str) -> bool:
    return PROPOSES_UPSELL.search(text.casefold()) is not None
