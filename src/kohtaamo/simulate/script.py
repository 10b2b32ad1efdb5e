"""What simulated visitors and agents say, in Finnish and English, per opening rule.

Written for the simulator after the situations in the chat guide (../shared/seeds/: the ten
problem moments, the cart stage, upselling a memory card with a camera). Agents have styles: a
"closer" asks for the sale and suggests what goes with the cart, a "helper" answers well but
does not sell, a "slow" one answers late and briefly.
"""

from __future__ import annotations

import random

# slug -> locale -> the visitor's first answer to the rule's message, then a follow-up
VISITOR: dict[str, dict[str, tuple[str, str]]] = {
    "email-already-registered": {
        "fi": (
            "Se sanoo että sähköposti on jo käytössä, mutta en muista rekisteröityneeni.",
            "Selvä, kokeilen salasanan palautusta.",
        ),
        "en": (
            "It says my email is already registered but I don't remember signing up.",
            "OK, I'll try resetting the password.",
        ),
    },
    "form-field-error-twice": {
        "fi": (
            "Postinumerokenttä ei hyväksy numeroani, mikä on vialla?",
            "Ai, välilyönti lopussa. Nyt meni läpi.",
        ),
        "en": (
            "The postcode field keeps rejecting my code, what's wrong?",
            "Ah, a trailing space. It works now.",
        ),
    },
    "cart-add-failed": {
        "fi": ("En saa tuotetta koriin, nappi ei tee mitään.", "Kiitos, nyt se on korissa."),
        "en": (
            "I can't add the item to my cart, the button does nothing.",
            "Thanks, it's in the cart now.",
        ),
    },
    "login-or-registration-failed": {
        "fi": (
            "Kirjautuminen ei onnistu vaikka salasana on oikein.",
            "Palautuslinkki toimi, kiitos.",
        ),
        "en": (
            "I can't log in even though my password is right.",
            "The reset link worked, thanks.",
        ),
    },
    "invoice-payment-failed": {
        "fi": ("Laskulla maksaminen ei mene läpi, miksi?", "Okei, maksan sitten kortilla."),
        "en": ("Paying by invoice fails, why is that?", "OK, I'll pay by card then."),
    },
    "server-error": {
        "fi": (
            "Sivu antoi virheen kun yritin jatkaa kassalle.",
            "Nyt toimii, kiitos nopeasta avusta.",
        ),
        "en": (
            "The page showed an error when I tried to go to checkout.",
            "Works now, thanks for the quick help.",
        ),
    },
    "discount-code-rejected": {
        "fi": ("Alekoodi SYKSY20 ei kelpaa, vaikka se tuli uutiskirjeessä.", "Ok, hyvä tietää."),
        "en": (
            "The discount code AUTUMN20 is rejected, it came in the newsletter.",
            "OK, good to know.",
        ),
    },
    "cart-idle": {
        "fi": (
            "Mietin vielä toimitusaikaa, ehtiikö tämä perjantaiksi?",
            "Hyvä, se riittää minulle.",
        ),
        "en": (
            "I'm still wondering about delivery, will this arrive by Friday?",
            "Great, that works for me.",
        ),
    },
    "internal-404": {
        "fi": ("Linkki tuotesivulle vei virhesivulle.", "Löytyi, kiitos."),
        "en": ("A link to the product page led to an error page.", "Found it, thanks."),
    },
    "account-locked": {
        "fi": ("Tilini on lukittu, miten pääsen takaisin?", "Selvä, odotan viestiä."),
        "en": ("My account is locked, how do I get back in?", "OK, I'll wait for the email."),
    },
    "first-visit-product": {
        "fi": ("Onko tämä kamera hyvä aloittelijalle?", "Kuulostaa hyvältä."),
        "en": ("Is this camera good for a beginner?", "Sounds good."),
    },
    "consideration": {
        "fi": (
            "En osaa päättää näiden kahden objektiivin välillä.",
            "Kiitos vertailusta, tämä auttoi.",
        ),
        "en": ("I can't decide between these two lenses.", "Thanks for comparing, that helped."),
    },
    "returning-customer-welcome": {
        "fi": ("Kiitos! Etsin varaosaa edelliseen tilaukseeni.", "Juuri se, kiitos."),
        "en": (
            "Thanks! I'm looking for a spare part for my last order.",
            "That's the one, thanks.",
        ),
    },
    "returning-customer-faq": {
        "fi": ("Miten palautan tuotteen, joka ei sopinut?", "Selkeä ohje, kiitos."),
        "en": ("How do I return an item that didn't fit?", "Clear instructions, thanks."),
    },
    "newsletter-arrival": {
        "fi": ("Koskeeko uutiskirjeen tarjous myös jalustoja?", "Hienoa."),
        "en": ("Does the newsletter offer cover tripods too?", "Great."),
    },
    "upsell-memory-card": {
        "fi": ("Tarvitseeko tähän kameraan erillisen muistikortin?", "Selvä, otan sellaisen."),
        "en": ("Do I need a separate memory card for this camera?", "OK, I'll take one."),
    },
    "default": {
        "fi": ("Hei, kysyisin vielä toimituskuluista.", "Kiitos tiedosta."),
        "en": ("Hi, a question about shipping costs.", "Thanks for the info."),
    },
}

# More ways to say it for the rules that fire most, so a rule's conversations read like people.
MORE_VISITOR: dict[str, dict[str, list[tuple[str, str]]]] = {
    "cart-idle": {
        "fi": [
            ("Onko tätä saatavilla noutona Tampereelta?", "Selvä, tilaan sitten kotiin."),
            ("Mietin vielä, kumpi muistikortti tähän sopii.", "Okei, otan sen isomman."),
        ],
        "en": [("Can I pick this up in a store instead?", "OK, home delivery it is.")],
    },
    "default": {
        "fi": [
            ("Onko teillä myymälää Helsingissä?", "Hyvä, käyn katsomassa."),
            ("Kauanko toimitus kestää Ouluun?", "Kiitos, se riittää."),
        ],
        "en": [("Do you ship to Sweden?", "Great, thanks.")],
    },
    "consideration": {
        "fi": [("Kumpi näistä kameroista on parempi videokuvaukseen?", "Selvä, kiitos vinkistä.")],
        "en": [("Which of these is better for video?", "Got it, thanks.")],
    },
    "invoice-payment-failed": {
        "fi": [
            (
                "Miksi lasku ei käy? Olen maksanut laskulla ennenkin.",
                "Ahaa, kokeilen verkkopankkia.",
            )
        ],
        "en": [
            ("Why can't I pay by invoice? It worked last time.", "I see, I'll use online banking.")
        ],
    },
    "discount-code-rejected": {
        "fi": [("Kaverilta saatu koodi ei toimi, onko se vanhentunut?", "Harmi, mutta kiitos.")],
        "en": [("A friend's code doesn't work, has it expired?", "Too bad, but thanks.")],
    },
}
MORE_AGENT: dict[str, dict[str, list[tuple[str, str]]]] = {
    "fi": {
        "closer": [
            (
                "Hyvä kysymys! Ehdit vielä tämän päivän lähetykseen. Haluaisitko tilata sen nyt?",
                "Suosittelen myös suojalaukkua, se sopii hyvin yhteen kameran kanssa. Voit nyt jatkaa kassalle!",
            ),
        ],
        "helper": [
            (
                "Katsoin tilanteen: tämä hoituu, ja ohje on myös UKK-sivulla.",
                "Kiva kun sain auttaa!",
            ),
        ],
        "slow": [("Hetki.", "Ok.")],
    },
    "en": {
        "closer": [
            (
                "Good question! It still ships today. Would you like to order it now?",
                "A spare battery pairs really well with it. You can complete your order at checkout!",
            ),
        ],
        "helper": [("I checked, and the FAQ page has the steps too.", "Glad I could help!")],
        "slow": [("One moment.", "OK.")],
    },
}

# locale -> style -> the agent's answers: (first answer, closing line)
AGENT: dict[str, dict[str, tuple[str, str]]] = {
    "fi": {
        "closer": (
            "Katsotaan yhdessä! Tämä hoituu hetkessä, ja tilaus lähtee vielä tänään. Haluatko, että lisään sen ostoskoriisi?",
            "Muistikortti sopii hyvin yhteen kameran kanssa, kannattaa ottaa samalla. Voit nyt jatkaa kassalle — mukavia kuvaushetkiä!",
        ),
        "helper": (
            "Tarkistin asian: tämä onnistuu, ja ohjeet löytyvät tilisi asetuksista.",
            "Autanko vielä jossain muussa? Mukavaa päivänjatkoa!",
        ),
        "slow": ("Tarkistan.", "Näin."),
    },
    "en": {
        "closer": (
            "Let's sort it out together! It only takes a moment and the order ships today. Shall I add it to your cart?",
            "A memory card goes well with the camera, you might also want a spare battery. You can now complete your order — enjoy!",
        ),
        "helper": (
            "I checked: this works, and the steps are in your account settings.",
            "Anything else I can help with? Have a nice day!",
        ),
        "slow": ("Checking.", "There you go."),
    },
}

# A visitor who opens the chat themselves (no rule): (question, thanks)
SPONTANEOUS: dict[str, tuple[str, str]] = {
    "fi": ("Hei! Onko tätä laukkua myös mustana?", "Kiitos avusta!"),
    "en": ("Hi! Does this bag come in black too?", "Thanks for the help!"),
}

COMMENTS: dict[str, dict[str, str]] = {
    "up": {"fi": "Nopea ja ystävällinen palvelu!", "en": "Quick and friendly service!"},
    "down": {"fi": "Vastaus tuli hitaasti.", "en": "The answer was slow."},
}


def visitor_lines(
    slug: str | None, locale: str, rng: random.Random | None = None
) -> tuple[str, str]:
    """The visitor's answer and follow-up; with `rng`, one of the ways to say it."""
    if slug is None:
        return SPONTANEOUS[locale]
    first = VISITOR.get(slug, VISITOR["default"])[locale]
    choices = [first, *MORE_VISITOR.get(slug, {}).get(locale, [])]
    return rng.choice(choices) if rng else first


def agent_lines(style: str, locale: str, rng: random.Random | None = None) -> tuple[str, str]:
    style = style if style in AGENT[locale] else "helper"
    choices = [AGENT[locale][style], *MORE_AGENT[locale].get(style, [])]
    return rng.choice(choices) if rng else choices[0]
