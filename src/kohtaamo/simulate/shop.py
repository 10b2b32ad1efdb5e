"""The simulated shop's catalogue and the true effects of the demo's rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    price: int  # cents
    image: str  # an emoji: the demo shop draws no photos


PRODUCTS = (
    Product("kamera-x100", "Kamera X100", "kamerat", 64900, "📷"),
    Product("kamera-mini", "Kamera Mini", "kamerat", 32900, "📷"),
    Product("objektiivi-50", "Objektiivi 50 mm f/1.8", "objektiivit", 21900, "🔭"),
    Product("objektiivi-zoom", "Zoom-objektiivi 18-135 mm", "objektiivit", 44900, "🔭"),
    Product("muistikortti-128gb", "Muistikortti 128 Gt", "muistikortit", 3990, "💾"),
    Product("muistikortti-64gb", "Muistikortti 64 Gt", "muistikortit", 2490, "💾"),
    Product("laukku-city", "Kameralaukku City", "laukut", 5990, "👜"),
    Product("jalusta-pro", "Jalusta Pro", "jalustat", 8990, "🗼"),
    Product("akku-lp", "Vara-akku LP-E17", "tarvikkeet", 4990, "🔋"),
)
BY_ID = {p.id: p for p in PRODUCTS}

# How much more (or less) likely a visitor is to buy in this visit once the rule has been shown
# to them (a multiplier on the purchase probability); held-out visitors get 1.0. Chosen so the
# reports have clear winners (cart, invoice, upsell), a loser (the default rule interrupts
# browsing) and rules without a clear effect.
EFFECT = {
    "cart-idle": 3.0,
    "invoice-payment-failed": 2.2,
    "discount-code-rejected": 1.5,
    "form-field-error-twice": 1.4,
    "cart-add-failed": 1.6,
    "upsell-memory-card": 1.3,
    "consideration": 1.25,
    "first-visit-product": 1.1,
    "login-or-registration-failed": 1.3,
    "server-error": 1.3,
    "default": 0.35,
}

# Problem moments a visit may run into, and how often (relative weights).
PROBLEMS = {
    "cart_add_failed": 3,
    "form_error": 4,
    "login_failed": 3,
    "payment_failed": 3,
    "server_error": 1,
    "discount_rejected": 3,
    "not_found": 2,
    "account_locked": 1,
    "email_already_registered": 2,
}
