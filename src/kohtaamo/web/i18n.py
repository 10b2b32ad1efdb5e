"""Finnish and English UI texts. A missing Finnish text falls back to English, never to a key."""

from __future__ import annotations

from collections.abc import Mapping

LOCALES = ("fi", "en")

_CATALOG: dict[str, dict[str, str]] = {"fi": {}, "en": {}}


def register(locale: str, texts: Mapping[str, str]) -> None:
    _CATALOG[locale].update(texts)


def translate(locale: str, key: str, **params: object) -> str:
    text = _CATALOG.get(locale, {}).get(key) or _CATALOG["en"].get(key) or key
    return text.format(**params) if params else text


def pick(accept_language: str | None, cookie: str | None, default: str = "fi") -> str:
    if cookie in LOCALES:
        return cookie
    for part in (accept_language or "").split(","):
        lang = part.split(";", 1)[0].strip().lower()[:2]
        if lang in LOCALES:
            return lang
    return default


register(
    "en",
    {
        "app.name": "Kohtaamo",
        "app.tagline": "Proactive chat, measured by the orders it earns",
        "nav.workspaces": "Workspaces",
        "nav.reports": "Reports",
        "nav.logout": "Log out",
        "nav.language": "Suomeksi",
        "login.title": "Log in",
        "login.email": "Email",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.failed": "Wrong email or password.",
        "login.throttled": "Too many attempts. Try again in {seconds} seconds.",
        "ws.title": "Your workspaces",
        "ws.none": "You are not a member of any workspace yet. Create one for your shop below.",
        "ws.create": "Create a workspace",
        "ws.name": "Shop name",
        "ws.role": "Your role",
        "ws.settings": "Settings",
        "ws.origins": "Allowed origins (one per line)",
        "ws.origins.help": "The widget only sends events from these sites, e.g. https://shop.example or https://*.shop.example",
        "ws.timezone": "Time zone",
        "ws.locale": "Language",
        "ws.currency": "Currency",
        "ws.save": "Save",
        "ws.saved": "Saved.",
        "ws.sitekey": "Embed on your shop",
        "ws.sitekey.help": "Put this tag on every page of the shop, before </body>.",
        "ws.apikeys": "Secret API keys",
        "ws.apikeys.help": "For your shop's server: orders and server-side events. A new key is shown once.",
        "ws.apikeys.new": "New key",
        "ws.apikeys.name": "Key name",
        "ws.apikeys.created": "Copy this key now; it is not shown again:",
        "ws.apikeys.revoke": "Revoke",
        "ws.apikeys.revoked": "revoked",
        "ws.apikeys.none": "No keys yet.",
        "ws.apikeys.lastused": "last used",
        "ws.members": "Team",
        "ws.members.add": "Invite",
        "ws.members.email": "Email",
        "ws.invited": "Invitation saved. The person sees it when they log in with that email.",
        "ws.invites.open": "Open invitations",
        "ws.invites.until": "valid until",
        "ws.invites.withdraw": "Withdraw",
        "ws.invites.help": "An invitation becomes a membership when the person with this email accepts it.",
        "ws.invites.you": "You are invited to {name} as {role}.",
        "ws.invites.accept": "Accept",
        "ws.invites.decline": "Decline",
        "ws.members.role": "Role",
        "ws.traffic": "Tracking",
        "ws.visitors": "visitors",
        "ws.events": "events",
        "role.owner": "owner",
        "role.admin": "admin",
        "role.agent": "agent",
        "error.title": "Something is wrong",
    },
)
register(
    "fi",
    {
        "app.tagline": "Proaktiivinen chat, jonka arvo mitataan tilauksina",
        "nav.workspaces": "Työtilat",
        "nav.reports": "Raportit",
        "nav.logout": "Kirjaudu ulos",
        "nav.language": "In English",
        "login.title": "Kirjaudu",
        "login.email": "Sähköposti",
        "login.password": "Salasana",
        "login.submit": "Kirjaudu",
        "login.failed": "Väärä sähköposti tai salasana.",
        "login.throttled": "Liian monta yritystä. Yritä uudelleen {seconds} sekunnin kuluttua.",
        "ws.title": "Työtilasi",
        "ws.none": "Et ole vielä minkään työtilan jäsen. Luo kaupallesi työtila alla.",
        "ws.create": "Luo työtila",
        "ws.name": "Kaupan nimi",
        "ws.role": "Roolisi",
        "ws.settings": "Asetukset",
        "ws.origins": "Sallitut osoitteet (yksi riville)",
        "ws.origins.help": "Widget lähettää tapahtumia vain näiltä sivustoilta, esim. https://kauppa.fi tai https://*.kauppa.fi",
        "ws.timezone": "Aikavyöhyke",
        "ws.locale": "Kieli",
        "ws.currency": "Valuutta",
        "ws.save": "Tallenna",
        "ws.saved": "Tallennettu.",
        "ws.sitekey": "Upota kauppaasi",
        "ws.sitekey.help": "Lisää tämä tagi kaupan jokaiselle sivulle ennen </body>-tagia.",
        "ws.apikeys": "Salaiset API-avaimet",
        "ws.apikeys.help": "Kaupan palvelimelle: tilaukset ja palvelinpuolen tapahtumat. Uusi avain näytetään vain kerran.",
        "ws.apikeys.new": "Uusi avain",
        "ws.apikeys.name": "Avaimen nimi",
        "ws.apikeys.created": "Kopioi avain nyt, sitä ei näytetä uudelleen:",
        "ws.apikeys.revoke": "Peru",
        "ws.apikeys.revoked": "peruttu",
        "ws.apikeys.none": "Ei vielä avaimia.",
        "ws.apikeys.lastused": "käytetty viimeksi",
        "ws.members": "Tiimi",
        "ws.members.add": "Kutsu",
        "ws.members.email": "Sähköposti",
        "ws.invited": "Kutsu tallennettu. Henkilö näkee sen kirjautuessaan tällä sähköpostilla.",
        "ws.invites.open": "Avoimet kutsut",
        "ws.invites.until": "voimassa",
        "ws.invites.withdraw": "Peru kutsu",
        "ws.invites.help": "Kutsusta tulee jäsenyys, kun tämän sähköpostin omistaja hyväksyy sen.",
        "ws.invites.you": "Sinut on kutsuttu työtilaan {name} roolissa {role}.",
        "ws.invites.accept": "Hyväksy",
        "ws.invites.decline": "Hylkää",
        "ws.members.role": "Rooli",
        "ws.traffic": "Seuranta",
        "ws.visitors": "kävijää",
        "ws.events": "tapahtumaa",
        "role.owner": "omistaja",
        "role.admin": "ylläpitäjä",
        "role.agent": "asiakaspalvelija",
        "error.title": "Jokin meni vikaan",
    },
)
