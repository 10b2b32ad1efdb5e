// The demo shop's own code: cart, discount, checkout, login. It reports what happens through the
// widget's public API (Kohtaamo.track / identify), exactly as a real shop's code would. Calls made
// before the widget has loaded wait in its stub queue.
"use strict";
(function () {
  window.Kohtaamo = window.Kohtaamo || { q: [] };
  function track(type, props) { window.Kohtaamo.q.push(["track", type, props || {}]); }
  function identify(id) { window.Kohtaamo.q.push(["identify", id]); }
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var euro = new Intl.NumberFormat("fi-FI", { style: "currency", currency: "EUR" });
  var CART = "demo-shop.cart", FAILS = "demo-shop.login-fails";

  function cart() { try { return JSON.parse(localStorage.getItem(CART)) || []; } catch (e) { return []; } }
  function save(lines) { localStorage.setItem(CART, JSON.stringify(lines)); count(); }
  function total(lines) { return lines.reduce(function (s, l) { return s + l.price * l.qty; }, 0); }
  function count() {
    var n = cart().reduce(function (s, l) { return s + l.qty; }, 0);
    document.querySelectorAll("[data-cart-count]").forEach(function (el) { el.textContent = n; });
  }
  function say(el, text, ok) { if (el) { el.textContent = text; el.classList.toggle("ok", !!ok); } }

  document.querySelectorAll("[data-price]").forEach(function (el) {
    if (el.tagName !== "BUTTON") el.textContent = euro.format(Number(el.dataset.price) / 100);
  });
  count();

  // 404: an internal link led here (the referrer is this shop).
  if (document.body.dataset.notFound) {
    var internal = !!document.referrer && document.referrer.indexOf(location.origin) === 0;
    track("not_found", { url: location.href, referrer: document.referrer || undefined, internal: internal });
  }

  // Product page: add to cart (one product's stock check always fails), reviews, comparison.
  var add = $("[data-add]");
  if (add) add.addEventListener("click", function () {
    var d = add.dataset, line = { product_id: d.add, category: d.category, unit_price: Number(d.price) };
    if (d.fails) {
      track("cart_add_failed", Object.assign({ reason: "varastosaldo ei vastannut" }, line));
      return say($("[data-add-msg]"), "Tuotetta ei voitu lisätä koriin. Yritä hetken päästä uudelleen.");
    }
    var lines = cart(), found = lines.find(function (l) { return l.id === d.add; });
    if (found) found.qty += 1; else lines.push({ id: d.add, name: d.name, category: d.category, price: Number(d.price), qty: 1 });
    save(lines);
    track("cart_add", line);
    say($("[data-add-msg]"), "Lisätty ostoskoriin.", true);
  });
  document.querySelectorAll("[data-track]").forEach(function (b) {
    b.addEventListener("click", function () {
      var p = b.dataset.track === "comparison_used" ? { product_ids: [b.dataset.product] } : { product_id: b.dataset.product };
      track(b.dataset.track, p);
      b.disabled = true;
    });
  });

  // Cart: lines, a discount code that is always rejected, a delivery estimate whose back-end fails.
  var box = $("[data-cart]");
  function drawCart(into) {
    var lines = cart();
    if (!into) return;
    if (!lines.length) { into.innerHTML = ""; var p = document.createElement("p"); p.className = "muted"; p.textContent = "Ostoskori on tyhjä."; into.appendChild(p); return; }
    into.innerHTML = "";
    var ul = document.createElement("ul"); ul.className = "lines";
    lines.forEach(function (l) {
      var li = document.createElement("li");
      li.textContent = l.qty + " × " + l.name + " — " + euro.format(l.price * l.qty / 100);
      ul.appendChild(li);
    });
    var sum = document.createElement("p"); sum.className = "sum"; sum.textContent = "Yhteensä " + euro.format(total(lines) / 100);
    into.appendChild(ul); into.appendChild(sum);
  }
  drawCart(box);
  drawCart($("[data-cart-summary]"));
  var disc = $("[data-discount]");
  if (disc) disc.addEventListener("submit", function (e) {
    e.preventDefault();
    var code = disc.code.value.trim();
    if (!code) return;
    track("discount_rejected", { code: code.slice(0, 64), reason: "vanhentunut" });
    say($("[data-discount-msg]"), "Alekoodi " + code + " ei ole voimassa.");
  });
  var del = $("[data-delivery]");
  if (del) del.addEventListener("click", function () {
    fetch("/demo-shop/api/toimitusaika").then(function (r) {
      if (!r.ok) {
        track("server_error", { status: r.status, url: location.origin + "/demo-shop/api/toimitusaika" });
        say($("[data-delivery-msg]"), "Toimitusajan haku epäonnistui (virhe " + r.status + ").");
      }
    });
  });
  var toCheckout = $("[data-to-checkout]");
  if (toCheckout) toCheckout.addEventListener("click", function () { track("checkout_step", { step: 1, name: "kassa" }); });

  // Checkout: field checks (each failed field reported), invoice that is always declined.
  var form = $("[data-checkout]");
  if (form) form.addEventListener("submit", function (e) {
    e.preventDefault();
    var bad = [];
    if (!form.name.value.trim()) bad.push(["name", "Nimi puuttuu"]);
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(form.email.value.trim())) bad.push(["email", "Tarkista sähköpostiosoite"]);
    if (!form.street.value.trim()) bad.push(["street", "Katuosoite puuttuu"]);
    if (!/^\d{5}$/.test(form.postcode.value.trim())) bad.push(["postcode", "Postinumerossa on viisi numeroa"]);
    form.querySelectorAll("input").forEach(function (i) { i.removeAttribute("aria-invalid"); });
    if (bad.length) {
      bad.forEach(function (b) {
        form[b[0]].setAttribute("aria-invalid", "true");
        track("form_error", { form: "checkout", field: b[0], message: b[1] });
      });
      form[bad[0][0]].focus();
      return say($("[data-checkout-msg]"), bad.map(function (b) { return b[1]; }).join(". ") + ".");
    }
    var lines = cart();
    if (!lines.length) return say($("[data-checkout-msg]"), "Ostoskori on tyhjä.");
    if (form.method.value === "invoice") {
      track("payment_failed", { method: "invoice", reason: "laskutuspalvelu hylkäsi" });
      return say($("[data-checkout-msg]"), "Laskulla maksaminen ei onnistunut. Valitse toinen maksutapa tai kysy chatissa.");
    }
    var order = "DEMO-" + Date.now().toString(36).toUpperCase();
    track("purchase", { order_id: order, value: total(lines), currency: "EUR" });
    save([]);
    sessionStorage.setItem("demo-shop.order", order);
    setTimeout(function () { location.href = "/demo-shop/kiitos"; }, 400); // the widget sends first
  });
  var thanks = $("[data-thanks]");
  if (thanks && sessionStorage.getItem("demo-shop.order")) {
    thanks.textContent = "Tilausnumero " + sessionStorage.getItem("demo-shop.order") + ". Vahvistus on lähetetty sähköpostiisi.";
  }

  // Login: only "demo" works; the third wrong password locks the account. Registration: one
  // address is taken.
  var login = $("[data-login]");
  if (login) login.addEventListener("submit", function (e) {
    e.preventDefault();
    var fails = Number(sessionStorage.getItem(FAILS) || 0);
    if (fails >= 3) return say($("[data-login-msg]"), "Tili on lukittu. Avaa lukitus sähköpostiin lähetetyllä linkillä.");
    if (login.password.value === "demo") {
      sessionStorage.removeItem(FAILS);
      identify("asiakas-" + login.email.value.trim().toLowerCase());
      return say($("[data-login-msg]"), "Tervetuloa takaisin!", true);
    }
    fails += 1;
    sessionStorage.setItem(FAILS, String(fails));
    if (fails >= 3) {
      track("account_locked", {});
      return say($("[data-login-msg]"), "Liian monta yritystä: tili on lukittu.");
    }
    track("login_failed", { reason: "väärä salasana" });
    say($("[data-login-msg]"), "Sähköposti tai salasana on väärin.");
  });
  var reg = $("[data-register]");
  if (reg) reg.addEventListener("submit", function (e) {
    e.preventDefault();
    if (reg.email.value.trim().toLowerCase() === "varattu@example.com") {
      track("email_already_registered", {});
      return say($("[data-register-msg]"), "Tällä sähköpostilla on jo tili.");
    }
    if (reg.password.value.length < 8) {
      track("registration_failed", { reason: "salasana liian lyhyt" });
      return say($("[data-register-msg]"), "Salasanassa on oltava vähintään 8 merkkiä.");
    }
    identify("asiakas-" + reg.email.value.trim().toLowerCase());
    say($("[data-register-msg]"), "Tili luotu, tervetuloa!", true);
  });
})();
