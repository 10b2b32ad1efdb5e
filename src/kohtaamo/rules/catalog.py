"""Ready rule templates: the ten problem moments and the sales-stage rules of PRODUCT.md §2.

Each is a complete rule (condition, action with Finnish and English messages, goal, limits) that a
shop installs as is and tunes later. Conditions read the visitor context of docs/rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def v(name: str) -> dict[str, Any]:
    return {"var": name}


def at_least(name: str, n: int) -> dict[str, Any]:
    return {">=": [v(name), n]}


@dataclass(frozen=True, slots=True)
class Template:
    slug: str
    group: str  # "problem" | "sales"
    name: dict[str, str]
    description: dict[str, str]
    condition: Any
    messages: dict[str, str]
    goal: str = "satisfaction"
    priority: int = 80
    cap_days: int | None = None
    min_free_agents: int = 0
    is_default: bool = False
    offline: str = "leave_message"
    action_type: str = "open_chat"
    product_id: str | None = None

    def rule(self, locale: str) -> dict[str, Any]:
        action: dict[str, Any] = {
            "type": self.action_type,
            "messages": dict(self.messages),
            "offline": self.offline,
        }
        if self.product_id:
            action["product_id"] = self.product_id
        return {
            "name": self.name.get(locale) or self.name["en"],
            "condition": self.condition,
            "action": action,
            "goal": self.goal,
            "priority": self.priority,
            "cap_per_visit": 1,
            "cap_days": self.cap_days,
            "holdout_share": 0.1,
            "min_free_agents": self.min_free_agents,
            "is_default": self.is_default,
            "template": self.slug,
        }


def T(slug: str, group: str, fi: str, en: str, dfi: str, den: str, **kw: Any) -> Template:
    return Template(slug, group, {"fi": fi, "en": en}, {"fi": dfi, "en": den}, **kw)


TEMPLATES: tuple[Template, ...] = (
    # ------------------------------------------------------------ the ten problem moments
    T(
        "email-already-registered",
        "problem",
        "Sähköposti on jo rekisteröity",
        "Email already registered",
        "Kävijä yrittää rekisteröityä osoitteella, jolla on jo tili.",
        "The visitor tries to sign up with an address that already has an account.",
        condition={">": [v("events.email_already_registered"), 0]},
        messages={
            "fi": "Sähköpostiosoitteellasi on jo tili. Autanko kirjautumisessa tai salasanan vaihdossa?",
            "en": "There is already an account with your email. Can I help you sign in or reset the password?",
        },
        priority=95,
    ),
    T(
        "form-field-error-twice",
        "problem",
        "Sama lomakekenttä virheellinen kahdesti",
        "Same form field wrong twice",
        "Sama kenttä on hylätty kaksi kertaa tai useammin tällä käynnillä.",
        "The same field was refused twice or more in this visit.",
        condition=at_least("events.max_errors_per_field", 2),
        messages={
            "fi": "Näyttää siltä, että lomakkeen täyttäminen takkuaa. Voinko auttaa?",
            "en": "Looks like the form is giving you trouble. Can I help?",
        },
        priority=90,
    ),
    T(
        "cart-add-failed",
        "problem",
        "Ostoskoriin lisääminen epäonnistui",
        "Adding to cart failed",
        "Tuotteen lisääminen koriin epäonnistui.",
        "A product could not be added to the cart.",
        condition={">": [v("events.cart_add_failed"), 0]},
        messages={
            "fi": "Tuotteen lisääminen koriin ei onnistunut. Selvitetäänkö yhdessä?",
            "en": "The product could not be added to your cart. Shall we sort it out together?",
        },
        goal="sales",
        priority=95,
    ),
    T(
        "login-or-registration-failed",
        "problem",
        "Kirjautuminen tai rekisteröityminen epäonnistuu",
        "Sign-in or registration fails",
        "Kirjautuminen epäonnistui kahdesti tai rekisteröityminen kerran.",
        "Sign-in failed twice, or registration once.",
        condition={
            "or": [at_least("events.login_failed", 2), at_least("events.registration_failed", 1)]
        },
        messages={
            "fi": "Kirjautumisessa näyttää olevan ongelmia. Autan mielelläni!",
            "en": "Signing in seems to be giving you trouble. Happy to help!",
        },
        priority=90,
    ),
    T(
        "invoice-payment-failed",
        "problem",
        "Laskulla maksaminen epäonnistui",
        "Paying by invoice failed",
        "Maksu laskulla hylättiin.",
        "A payment by invoice was refused.",
        condition={">": [v("events.payment_failures.invoice"), 0]},
        messages={
            "fi": "Laskulla maksaminen ei onnistunut. Voin kertoa muista maksutavoista.",
            "en": "Paying by invoice did not go through. I can tell you about other ways to pay.",
        },
        goal="sales",
        priority=100,
    ),
    T(
        "server-error",
        "problem",
        "Palvelinvirhe tai muu virheilmoitus",
        "Server error or other error message",
        "Kävijä sai palvelinvirheen (5xx).",
        "The visitor got a server error (5xx).",
        condition={">": [v("events.server_error"), 0]},
        messages={
            "fi": "Pahoittelut, sivustolla tapahtui virhe. Voin auttaa viemään asiasi loppuun.",
            "en": "Sorry, something went wrong on our side. I can help you finish what you were doing.",
        },
        priority=95,
    ),
    T(
        "discount-code-rejected",
        "problem",
        "Alennuskoodi hylättiin",
        "Discount code rejected",
        "Kävijän syöttämä alennuskoodi ei kelvannut.",
        "A discount code the visitor entered was refused.",
        condition={">": [v("events.discount_rejected"), 0]},
        messages={
            "fi": "Alennuskoodi ei kelvannut. Tarkistetaanko yhdessä, mikä etu sinulle kuuluu?",
            "en": "The discount code was not accepted. Shall we check together which offer applies?",
        },
        goal="sales",
        priority=90,
    ),
    T(
        "cart-idle",
        "problem",
        "Ei etenemistä ostoskorissa 90 s",
        "No progress on the cart page for 90 s",
        "Kävijä on ostoskorisivulla ilman toimintaa 90 sekuntia ja korissa on tuotteita.",
        "The visitor has been on the cart page without doing anything for 90 seconds, with a full cart.",
        condition={
            "and": [
                {"==": [v("page.type"), "cart"]},
                {">": [v("cart.lines"), 0]},
                at_least("page.idle_seconds", 90),
            ]
        },
        messages={
            "fi": "Hei! Jäikö jokin mietityttämään tilauksessa? Vastaan mielelläni.",
            "en": "Hi! Is something about your order on your mind? Happy to answer.",
        },
        goal="sales",
        priority=85,
    ),
    T(
        "internal-404",
        "problem",
        "Sisäinen linkki johtaa 404-sivulle",
        "Internal link leads to a 404",
        "Kävijä päätyi sivuston omasta linkistä sivulle, jota ei löydy.",
        "The visitor followed one of the shop's own links to a missing page.",
        condition={">": [v("events.internal_not_found"), 0]},
        messages={
            "fi": "Linkki näyttää olevan rikki, pahoittelut! Mitä olit etsimässä?",
            "en": "That link seems to be broken, sorry! What were you looking for?",
        },
        priority=80,
    ),
    T(
        "account-locked",
        "problem",
        "Tili lukittu",
        "Account locked",
        "Kävijän tili lukittiin liian monen yrityksen jälkeen.",
        "The visitor's account was locked after too many attempts.",
        condition={">": [v("events.account_locked"), 0]},
        messages={
            "fi": "Tilisi lukittiin turvallisuussyistä. Autan avaamaan sen.",
            "en": "Your account was locked for safety. I can help you unlock it.",
        },
        priority=100,
    ),
    # ------------------------------------------------------------ sales stages
    T(
        "first-visit-product",
        "sales",
        "Ensimmäinen käynti tuotesivulla",
        "First visit on a product page",
        "Uusi kävijä on katsonut tuotesivua 30 sekuntia.",
        "A first-time visitor has looked at a product page for 30 seconds.",
        condition={
            "and": [
                {"==": [v("visit.number"), 1]},
                {"==": [v("page.type"), "product"]},
                at_least("page.seconds_on_page", 30),
            ]
        },
        messages={
            "fi": "Tervetuloa! Kerron mielelläni lisää tästä tuotteesta.",
            "en": "Welcome! Happy to tell you more about this product.",
        },
        goal="sales",
        priority=40,
        min_free_agents=1,
    ),
    T(
        "consideration",
        "sales",
        "Vertailu ja arviot",
        "Comparing and reading reviews",
        "Kolme tuotesivua samasta kategoriasta, vertailu tai arvostelujen lukeminen.",
        "Three product pages of one category, the comparison tool, or reviews.",
        condition={
            "or": [
                at_least("visit.max_product_views_in_category", 3),
                {">": [v("events.comparison_used"), 0]},
                {">": [v("events.reviews_read"), 0]},
            ]
        },
        messages={
            "fi": "Vertailetko vaihtoehtoja? Autan löytämään sinulle sopivimman.",
            "en": "Comparing options? I can help you find the one that suits you best.",
        },
        goal="sales",
        priority=50,
        min_free_agents=1,
    ),
    T(
        "returning-customer-welcome",
        "sales",
        "Palaavan asiakkaan tervehdys",
        "Welcome back, returning customer",
        "Kirjautunut asiakas, jolla on aiempia tilauksia, palaa kauppaan.",
        "A signed-in customer with earlier orders comes back.",
        condition={
            "and": [
                v("customer.identified"),
                {">": [v("customer.orders"), 0]},
                at_least("page.seconds_on_page", 10),
            ]
        },
        messages={
            "fi": "Tervetuloa takaisin! Kerro, jos voin auttaa jossakin.",
            "en": "Welcome back! Let me know if I can help with anything.",
        },
        goal="sales",
        priority=45,
        cap_days=7,
        min_free_agents=1,
    ),
    T(
        "returning-customer-faq",
        "sales",
        "Palaava asiakas UKK-sivulla",
        "Returning customer on the FAQ",
        "Asiakas, jolla on tilauksia, lukee usein kysyttyjä kysymyksiä 20 sekuntia.",
        "A customer with orders has been reading the FAQ for 20 seconds.",
        condition={
            "and": [
                {">": [v("customer.orders"), 0]},
                {"==": [v("page.type"), "faq"]},
                at_least("page.seconds_on_page", 20),
            ]
        },
        messages={
            "fi": "Löysitkö vastauksen? Voin katsoa tilauksesi tiedot puolestasi.",
            "en": "Did you find your answer? I can look up your order for you.",
        },
        goal="satisfaction",
        priority=70,
    ),
    T(
        "newsletter-arrival",
        "sales",
        "Uutiskirjeestä tai kampanjasta saapunut",
        "Arrived from a newsletter or campaign",
        "Kävijä tuli uutiskirjeen tai kampanjan linkistä.",
        "The visitor came from a newsletter or campaign link.",
        condition={
            "and": [
                {
                    "or": [
                        v("visit.from_newsletter"),
                        {"==": [v("visit.utm.medium"), "email"]},
                    ]
                },
                at_least("page.seconds_on_page", 15),
            ]
        },
        messages={
            "fi": "Kiva, että tulit kirjeemme kautta! Kysy minulta tarjouksesta.",
            "en": "Glad you came from our newsletter! Ask me about the offer.",
        },
        goal="lead",
        priority=55,
        min_free_agents=1,
    ),
    T(
        "upsell-memory-card",
        "sales",
        "Kamera korissa ilman muistikorttia",
        "Camera in cart without a memory card",
        "Korissa on kamera mutta ei muistikorttia: muistutus ennen maksua.",
        "A camera in the cart without a memory card: a reminder before payment.",
        condition={
            "and": [
                {"in": [v("page.type"), ["cart", "checkout"]]},
                {"contains": [v("cart.categories"), "kamerat"]},
                {"!": {"contains": [v("cart.categories"), "muistikortit"]}},
            ]
        },
        messages={
            "fi": "Muistithan muistikortin? Ilman sitä kamera ei tallenna kuvia.",
            "en": "Remembered a memory card? The camera cannot save photos without one.",
        },
        goal="sales",
        priority=60,
        action_type="suggest_product",
        product_id="muistikortti-64gb",
    ),
    T(
        "default",
        "sales",
        "Oletussääntö: 2,5 minuuttia kaupassa",
        "Default rule: 2.5 minutes in the shop",
        "Kuka tahansa, joka on ollut kaupassa 150 sekuntia. Väistyy ensimmäisenä, kun agentit "
        "ovat kiireisiä.",
        "Anyone who has been in the shop for 150 seconds. The first to back off when agents are busy.",
        condition=at_least("visit.seconds", 150),
        messages={
            "fi": "Hei! Voinko auttaa löytämään jotain?",
            "en": "Hi! Can I help you find something?",
        },
        goal="sales",
        priority=10,
        cap_days=1,
        is_default=True,
        offline="quiet",
    ),
)
BY_SLUG = {t.slug: t for t in TEMPLATES}
