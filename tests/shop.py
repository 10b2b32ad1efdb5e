"""A shop for browser tests: its own origin (another port), the widget embedded exactly as a shop
embeds it, under a strict Content-Security-Policy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CART_PAGE = """<!doctype html>
<html lang="fi"><head><meta charset="utf-8"><title>Ostoskori · Kamerakauppa</title>
<link rel="stylesheet" href="/shop.css"><script src="/shop.js"></script>
<script src="{kohtaamo}/widget.js" data-site="{site_key}" async></script></head>
<body data-kohtaamo-page="cart"><header><strong>Kamerakauppa</strong></header>
<main><h1>Ostoskori</h1><table><tr><td>Fujifilm X100VI</td><td>1 kpl</td><td>1 299,00 €</td></tr>
</table><p><a href="/kassa">Siirry kassalle</a></p></main></body></html>"""

PRODUCT_PAGE = """<!doctype html>
<html lang="fi"><head><meta charset="utf-8"><title>Fujifilm X100VI · Kamerakauppa</title>
<link rel="stylesheet" href="/shop.css"><script src="/shop.js"></script>
<script src="{kohtaamo}/widget.js" data-site="{site_key}" async></script></head>
<body><header><strong>Kamerakauppa</strong></header>
<main><h1>Fujifilm X100VI</h1><p>1 299,00 €</p><p><a href="/kori">Ostoskoriin</a></p></main>
</body></html>"""

SHOP_JS = """window.Kohtaamo = window.Kohtaamo || {q: []};
window.Kohtaamo.q.push(["track", "cart_add", {product_id: "x100vi", category: "kamerat", unit_price: 129900}]);
"""
SHOP_CSS = """body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#222;color:#fff;padding:1rem 2rem}main{max-width:760px;margin:2rem auto;background:#fff;
padding:1.5rem 2rem;border-radius:10px}table{width:100%;border-collapse:collapse}td{padding:.6rem 0;
border-bottom:1px solid #eee}"""


@contextmanager
def shop_site() -> Iterator[tuple[str, dict[str, str]]]:
    """The shop: its own origin, serving its cart page under a strict Content-Security-Policy.
    Yields the origin and a dict to fill with `kohtaamo` (base URL) and `site_key`."""
    config: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kohtaamo = config["kohtaamo"]
            ws_url = "ws://" + kohtaamo.split("://", 1)[1]
            csp = (
                f"default-src 'none'; script-src 'self' {kohtaamo}; style-src 'self' {kohtaamo}; "
                f"connect-src {kohtaamo} {ws_url}; img-src 'self'; base-uri 'none'; "
                "form-action 'self'"
            )
            files = {
                "/kori": ("text/html", CART_PAGE.format(**config)),
                "/tuote/x100vi": ("text/html", PRODUCT_PAGE.format(**config)),
                "/shop.js": ("text/javascript", SHOP_JS),
                "/shop.css": ("text/css", SHOP_CSS),
                "/favicon.ico": ("image/x-icon", ""),
            }
            path = self.path.split("?")[0]
            kind, body = files.get(path, ("text/plain", "not found"))
            data = body.encode()
            self.send_response(200 if path in files else 404)
            self.send_header("Content-Type", kind + "; charset=utf-8")
            self.send_header("Content-Security-Policy", csp)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", config
    finally:
        server.shutdown()
