"""Selling in chat (analytics/selling.py): agent lines that ask for the sale or propose an upsell,
in Finnish and English, and everyday lines that must count as neither (docs/analytics.md).

The sentences are written as agents write them in a shop's chat; none was shaped to fit a pattern.
A false "asked for the sale" is worse for an agent's numbers than a missed one, so the lines that
must not match matter as much as the ones that must.

Pure functions, no database: these tests are plain (not asyncio) and run once.
"""

from __future__ import annotations

import pytest

from kohtaamo.analytics.selling import asks_for_sale, proposes_upsell

ASKS_FI = [
    "Haluatko, että lisään sen ostoskoriisi?",
    "Voinko laittaa tilauksen sinulle valmiiksi?",
    "Haluaisitko tilata sen nyt, kun sitä on vielä varastossa?",
    "Pääset kassalle oikean yläkulman ostoskorista.",
    "Tilaa nyt, niin paketti lähtee vielä tänään!",
    "Voit nyt tilata sen suoraan tuotesivulta.",
    "Saanko varata sinulle yhden Tampereen myymälään?",
    "Lisäänkö nämä kengät koriisi koossa 42?",
    "Laitetaanko tilaus menemään?",
    "Tehdäänkö tilaus saman tien, niin ehdit vielä tämän päivän lähetykseen?",
    "Jos koko on nyt selvä, voit viimeistellä tilauksen kassalla.",
    "Autan mielelläni viemään tilauksen loppuun, jos maksaminen takkuaa.",
    "Haluatko, että teen tilauksen puolestasi?",
    "Sopisiko, että lähetän sinulle maksulinkin?",
]
ASKS_EN = [
    "Would you like to order it in black or in navy?",
    "Shall I add the size 42 to your cart?",
    "If you're happy with the fit, you can complete your order at checkout.",
    "Are you ready to check out? I'll stay on the chat while you pay.",
    "I can hold one at our Helsinki store for you - shall I reserve it?",
    "Just add it to your basket and the discount applies automatically.",
    "Do you want to place the order now so it ships today?",
    "Can I put these in your cart for you?",
    "Would you like to go ahead with the purchase?",
    "Great choice! Let's finalize your order, it only takes a minute.",
    "Would you like me to send you a payment link?",
    "Shall we get that ordered for you?",
]
UPSELL_FI = [
    "Suosittelen myös kyllästesuihketta, niin kengät pysyvät kuivina.",
    "Tähän takkiin sopii hyvin yhteen tämä villapipo.",
    "Kannattaa ottaa samalla vaihtoterät, ne kuluvat nopeasti.",
    "Tarvitsetko myös HDMI-kaapelin? Sitä ei tule paketissa mukana.",
    "Jos lisäät vielä 12 euron edestä, saat ilmaisen toimituksen.",
    "Meillä on nyt pakettitarjous: kamera ja muistikortti yhteen hintaan.",
    "Tehokkaampi malli jaksaa isommankin nurmikon, ja hintaero on vain 40 euroa.",
    "Entä lisäksi suojakotelo puhelimeen?",
    "Haluaisitko samalla laturin? Tästä mallista se puuttuu.",
    "Tähän porakoneeseen saa myös lisävarusteena teräsarjan.",
    "Suosittelisin lisäksi hoitoainetta samasta sarjasta.",
    "Tuo laukku sopisi täydellisesti pariksi noille kengille.",
]
UPSELL_EN = [
    "You might also like the matching scarf, it's on sale this week.",
    "This tripod pairs perfectly with the camera you picked.",
    "This tripod pairs really well with the camera you picked.",
    "Would you also like a screen protector?",
    "I'd also recommend the cleaning kit for that lens.",
    "The premium version comes with a two-year warranty.",
    "We have a bundle with the charger at 20% off.",
    "Would you like to add gift wrapping for 3 euros?",
    "You could upgrade to the 256 GB model for 60 euros more.",
    "These socks go great with the hiking boots.",
    "You'd get free shipping if you add one more item.",
    "Orders over 50 euros get free shipping, so you're only 6 euros away.",
]
# Greetings, shipping and order-status answers, returns, payment questions, troubleshooting.
NEITHER_FI = [
    "Hei! Miten voin auttaa?",
    "Voinko auttaa muussa?",
    "Voinko auttaa vielä jossain muussa?",
    "Suosittelen tyhjentämään välimuistin ja kokeilemaan uudelleen.",
    "Suosittelen myös päivittämään selaimen uusimpaan versioon.",
    "Kannattaa myös tarkistaa roskapostikansio, vahvistus menee joskus sinne.",
    "Toimitus kestää yleensä 2-4 arkipäivää.",
    "Tilauksesi lähti varastolta tänään, seurantakoodi tulee sähköpostiin.",
    "Voinko tarkistaa tilauksesi tilan?",
    "Saanko tilausnumerosi, niin katson missä paketti menee?",
    "Haluatko, että perun tilauksen?",
    "Tarvitsetko lisäksi apua palautuksen kanssa?",
    "Ilmainen toimitus koskee vain Suomeen lähteviä tilauksia.",
    "Voit maksaa kortilla, MobilePaylla tai laskulla.",
    "Voit palauttaa tuotteen 30 päivän sisällä.",
    "Kiitos tilauksestasi ja mukavaa päivänjatkoa!",
]
NEITHER_EN = [
    "Hi there! How can I help you today?",
    "Can I help you with anything else?",
    "Your order shipped yesterday and should arrive by Friday.",
    "Could you try clearing your browser cache and reloading the page?",
    "I recommend restarting the router first.",
    "Can I have your order number, please?",
    "Can I put you on hold for two minutes while I check with the warehouse?",
    "Would you like to check out our size guide first?",
    "Shall I book a courier to pick up the return?",
    "Please upgrade the app to the latest version, that fixes the login error.",
    "Do you also need a receipt for the return?",
    "Returns are free within 30 days.",
    "Let me check that for you, one moment please.",
]


def _ids(sentences: list[str]) -> list[str]:
    """Readable ASCII test ids: the sentence's start, with Finnish letters plain."""
    plain = str.maketrans("äöåÄÖÅ", "aoaAOA")
    return [s[:48].translate(plain) for s in sentences]


@pytest.mark.parametrize("text", ASKS_FI + ASKS_EN, ids=_ids(ASKS_FI + ASKS_EN))
def test_asks_for_the_sale(text: str) -> None:
    assert asks_for_sale(text) is True, text


@pytest.mark.parametrize("text", UPSELL_FI + UPSELL_EN, ids=_ids(UPSELL_FI + UPSELL_EN))
def test_proposes_an_upsell(text: str) -> None:
    assert proposes_upsell(text) is True, text


@pytest.mark.parametrize("text", NEITHER_FI + NEITHER_EN, ids=_ids(NEITHER_FI + NEITHER_EN))
def test_service_lines_are_neither(text: str) -> None:
    assert (asks_for_sale(text), proposes_upsell(text)) == (False, False), text


@pytest.mark.parametrize(
    "text",
    [
        "Tähän takkiin sopii hyvin yhteen tämä villapipo.",
        "Toimitus kestää yleensä 2-4 arkipäivää.",
        "These socks go great with the hiking boots.",
        "Hi there! How can I help you today?",
    ],
)
def test_an_upsell_or_a_service_line_is_not_an_ask(text: str) -> None:
    assert asks_for_sale(text) is False, text


def test_case_and_finnish_letters_do_not_matter() -> None:
    assert asks_for_sale("LISÄÄNKÖ NÄMÄ KENGÄT KORIISI?") is True
    assert asks_for_sale("Shall I ADD it to your CART?") is True
    assert proposes_upsell("SUOSITTELEN MYÖS KYLLÄSTESUIHKETTA.") is True
    assert proposes_upsell("You Might Also Like The Matching Scarf.") is True
    assert asks_for_sale("VOINKO AUTTAA MUUSSA?") is False


def test_a_line_can_do_both_or_neither() -> None:
    both = "Haluatko, että lisään sen koriisi? Suosittelen myös kyllästesuihketta."
    assert (asks_for_sale(both), proposes_upsell(both)) == (True, True)
    assert (asks_for_sale(""), proposes_upsell("")) == (False, False)
