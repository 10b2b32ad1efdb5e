/* Kohtaamo widget: page tracking, rule actions and the visitor chat (docs/chat.md).
   One IIFE, no dependencies, no eval, no inline styles: it must run under a strict shop CSP. */
(function () {
  "use strict";
  if (window.Kohtaamo && window.Kohtaamo.visitorId) return; // the tag was included twice

  const script = document.currentScript || document.querySelector("script[data-site]");
  const SITE = script && script.getAttribute("data-site");
  if (!SITE) return console.warn("Kohtaamo: the script tag needs data-site");
  const HOST = new URL(script.src, location.href).origin;
  const KEY_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
  const TYPE_RE = /^(custom:[a-z0-9][a-z0-9_.-]{0,63}|[a-z][a-z_]{0,39})$/;
  const HTTP_RE = /^https?:\/\//i;
  const PAGE_TYPES = ["product", "category", "cart", "checkout", "faq", "landing", "search", "account", "other"];

  const TEXT = {
    fi: {
      title: "Asiakaspalvelu", open: "Avaa chat", close: "Sulje chat", you: "Sinä", log: "Keskustelu",
      input: "Viesti", placeholder: "Kirjoita viesti…", send: "Lähetä", email: "Sähköpostiosoitteesi",
      offline: "Emme ole juuri nyt paikalla. Jätä viesti, niin vastaamme sähköpostitse.",
      leadThanks: "Kiitos! Vastaamme sähköpostitse.", typing: "kirjoittaa…", read: "Luettu",
      queue: (n) => `Olet jonossa sijalla ${n}`, unread: " uutta viestiä", failed: "Viestiä ei voitu lähettää.",
      rateQ: "Miten onnistuimme?", good: "Hyvä", bad: "Huono", comment: "Kommentti (vapaaehtoinen)",
      rateSend: "Lähetä arvio", rateThanks: "Kiitos palautteesta!",
    },
    en: {
      title: "Customer service", open: "Open chat", close: "Close chat", you: "You", log: "Conversation",
      input: "Message", placeholder: "Write a message…", send: "Send", email: "Your email address",
      offline: "We are not online right now. Leave a message and we will reply by email.",
      leadThanks: "Thanks! We will reply by email.", typing: "is typing…", read: "Read",
      queue: (n) => `You are number ${n} in the queue`, unread: " new messages", failed: "The message could not be sent.",
      rateQ: "How did we do?", good: "Good", bad: "Bad", comment: "Comment (optional)",
      rateSend: "Send rating", rateThanks: "Thanks for your feedback!",
    },
  };

  /* ---------- storage: localStorage, or memory when it throws (privacy modes, quota) ---------- */
  const mem = {};
  let store = null;
  try {
    store = window.localStorage;
    store.setItem("kohtaamo.t", "1");
    store.removeItem("kohtaamo.t");
  } catch (e) {
    store = null;
  }
  function getRaw(k) {
    if (k in mem) return mem[k];
    try { return store ? store.getItem(k) : null; } catch (e) { return null; }
  }
  function setRaw(k, v) {
    try {
      if (store) {
        if (v == null) store.removeItem(k); else store.setItem(k, v);
        delete mem[k];
        return;
      }
    } catch (e) { /* fall back to memory */ }
    mem[k] = v;
  }
  function load(k, dflt) {
    try { const v = getRaw(k); return v == null ? dflt : JSON.parse(v); } catch (e) { return dflt; }
  }
  const save = (k, v) => setRaw(k, v == null ? null : JSON.stringify(v));
  const list = (k) => { const v = load(k, []); return Array.isArray(v) ? v : []; };

  function uuid() {
    const c = window.crypto;
    if (c.randomUUID) return c.randomUUID(); // secure contexts only
    const b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /* ---------- identity ---------- */
  let vid = getRaw("kohtaamo.vid");
  if (!vid || !KEY_RE.test(vid)) setRaw("kohtaamo.vid", (vid = uuid()));

  // A visit ends after 30 minutes without events; decide and socket calls do not extend it.
  function visitId(touch) {
    const now = Date.now();
    let v = load("kohtaamo.visit", null);
    const fresh = v && typeof v.id === "string" && KEY_RE.test(v.id) && now - v.last < 30 * 60e3;
    if (!fresh) v = { id: uuid(), last: now };
    if (touch) v.last = now;
    if (!fresh || touch) save("kohtaamo.visit", v);
    return v.id;
  }

  /* ---------- config ---------- */
  const cfg = { locale: /^fi/i.test(document.documentElement.lang) ? "fi" : "en", title: "", color: "", page_patterns: [], agents_online: null };
  let cfgLoaded = false, cfgRetry = 30e3;
  const L = () => TEXT[cfg.locale] || TEXT.fi;

  async function loadConfig() {
    try {
      const res = await fetch(`${HOST}/api/v1/widget/config?site_key=${encodeURIComponent(SITE)}`, { credentials: "omit" });
      if (!res.ok) throw new Error(String(res.status));
      const c = await res.json();
      Object.assign(cfg, c, { locale: TEXT[c.locale] ? c.locale : "fi" });
      if (!Array.isArray(cfg.page_patterns)) cfg.page_patterns = [];
      cfgLoaded = true;
      applyConfig();
    } catch (e) {
      setTimeout(loadConfig, cfgRetry); // tracking goes on meanwhile, in the <html lang> locale
      cfgRetry = Math.min(cfgRetry * 2, 600e3);
    }
  }

  const globRe = (p) => new RegExp("^" + p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
  function pageType(path) {
    const own = script.getAttribute("data-page-type") || document.body.getAttribute("data-kohtaamo-page");
    if (PAGE_TYPES.includes(own)) return own;
    const hit = cfg.page_patterns.find((p) => p && typeof p.pattern === "string" && globRe(p.pattern).test(path));
    return hit ? (PAGE_TYPES.includes(hit.type) ? hit.type : "other") : "other";
  }

  /* ---------- event queue and delivery ---------- */
  const QKEY = "kohtaamo.queue";
  let inFlight = false, flushTimer = 0, blockedUntil = 0, backoff = 0, warned = false;

  function enqueue(type, props, ts) {
    // Each event keeps its visit: one batch carries one visit id.
    const ev = { id: uuid(), type, ts: ts || Date.now(), props, visit: visitId(true) };
    save(QKEY, list(QKEY).concat(ev).slice(-500));
    schedule(300);
    return ev.id;
  }
  function schedule(ms) {
    clearTimeout(flushTimer);
    flushTimer = setTimeout(flush, Math.max(ms, blockedUntil - Date.now()));
  }
  function batchOf(q) {
    const visit = q[0].visit || visitId(false);
    return { visit, evs: q.filter((e) => (e.visit || visit) === visit).slice(0, 100) };
  }
  function wire(visit, evs) {
    const events = evs.map((e) => ({ id: e.id, type: e.type, ts: e.ts, props: e.props }));
    return JSON.stringify({ site_key: SITE, visitor_id: vid, visit_id: visit, sent_at: Date.now(), events });
  }
  function drop(evs) {
    const ids = new Set(evs.map((e) => e.id));
    save(QKEY, list(QKEY).filter((e) => !ids.has(e.id)));
  }
  const post = (path, body) => fetch(HOST + path, {
    method: "POST", body, credentials: "omit", keepalive: false, mode: "cors",
    headers: { "Content-Type": "text/plain;charset=UTF-8" }, // a simple request: no preflight
  });
  function retryAfter(res) {
    const h = res && res.headers.get("Retry-After"); // readable only if the server exposes it
    if (!h) return 0;
    const ms = isNaN(h) ? Date.parse(h) - Date.now() : h * 1000;
    return Math.min(Math.max(ms || 0, 0), 3600e3);
  }

  async function flush() {
    flushTimer = 0;
    const q = list(QKEY);
    if (inFlight || !q.length) return;
    if (Date.now() < blockedUntil) return schedule(0);
    const { visit, evs } = batchOf(q);
    let res = null, retry = true;
    inFlight = true;
    try {
      res = await post("/api/v1/track", wire(visit, evs));
      if (res.ok) {
        retry = false;
        drop(evs);
        handleAnswer(await res.json().catch(() => null), true);
      } else if (res.status < 500 && res.status !== 408 && res.status !== 429) {
        retry = false;
        await refused(res, evs);
      }
    } catch (e) { /* network error: retried below */ }
    inFlight = false;
    backoff = retry ? Math.min(backoff ? backoff * 2 : 1000, 60e3) : 0;
    blockedUntil = retry ? Date.now() + Math.max(Math.min(backoff * (0.75 + Math.random() / 2), 60e3), retryAfter(res)) : 0;
    if (list(QKEY).length) schedule(0);
  }

  // A refused batch would be refused forever: drop it (on 422 only the events listed as bad).
  async function refused(res, evs) {
    const detail = ((await res.json().catch(() => null)) || {}).detail || {};
    const listed = Array.isArray(detail.errors) ? detail.errors.map((x) => x && x.index) : [detail.index];
    const bad = listed.filter((i) => Number.isInteger(i) && i >= 0 && i < evs.length).map((i) => evs[i]);
    if (!warned) console.warn(`Kohtaamo: tracking refused (${res.status})`, detail.message || "");
    warned = true;
    drop(res.status === 422 && bad.length ? bad : evs);
  }

  function beacon() {
    let q = list(QKEY), budget = 60000; // browsers cap pending beacon bytes at 64 KiB
    while (q.length && navigator.sendBeacon) {
      const { visit, evs } = batchOf(q);
      const json = wire(visit, evs);
      if ((budget -= json.length) < 0) break;
      let ok = false;
      try { ok = navigator.sendBeacon(HOST + "/api/v1/track", new Blob([json], { type: "text/plain;charset=UTF-8" })); } catch (e) { /* kept */ }
      if (!ok) break;
      drop(evs);
      q = q.filter((e) => !evs.includes(e));
    }
  }

  /* ---------- decisions: actions now, and when to ask again ---------- */
  let checkTimer = 0, answers = 0;
  function handleAnswer(a, fromTrack) {
    if (!a || typeof a !== "object") return;
    if (fromTrack) answers++;
    clearTimeout(checkTimer);
    checkTimer = 0;
    if (typeof a.check_in === "number" && a.check_in >= 0) checkTimer = setTimeout(decide, Math.min(a.check_in, 86400) * 1000);
    if (Array.isArray(a.actions)) a.actions.forEach((act) => uiReady.then(() => showAction(act)));
  }
  async function decide(again) {
    checkTimer = 0;
    const seen = answers;
    let retry = again !== true;
    try {
      const res = await post("/api/v1/decide", JSON.stringify({ site_key: SITE, visitor_id: vid, visit_id: visitId(false) }));
      if (res.ok) return void (seen === answers && handleAnswer(await res.json(), false)); // a newer track answer wins
      if (res.status < 500 && res.status !== 429) retry = false;
    } catch (e) { /* one retry below */ }
    if (retry && seen === answers && !checkTimer) checkTimer = setTimeout(() => decide(true), 30e3);
  }

  /* ---------- page views ---------- */
  const domReady = new Promise((r) => (document.body ? r() : document.addEventListener("DOMContentLoaded", () => r(), { once: true })));
  const base = Promise.all([domReady, Promise.race([loadConfig(), new Promise((r) => setTimeout(r, 2500))])]);
  let lastPath = location.pathname, lastUrl = document.referrer;

  function pageView() {
    const url = location.href, path = location.pathname, title = document.title.trim(), ts = Date.now(), ref = lastUrl;
    lastUrl = url;
    if (!HTTP_RE.test(url)) return;
    base.then(() => {
      const props = { url: url.slice(0, 2048), page_type: pageType(path) };
      if (HTTP_RE.test(ref)) props.referrer = ref.slice(0, 2048);
      if (title) props.title = title.slice(0, 300);
      // A product page can name its product and category: <body data-kohtaamo-product="…">.
      const b = document.body.dataset;
      if (b.kohtaamoProduct) props.product_id = b.kohtaamoProduct.slice(0, 128);
      if (b.kohtaamoCategory) props.category = b.kohtaamoCategory.slice(0, 128);
      enqueue("page_view", props, ts);
    });
  }
  function onNav() {
    if (location.pathname === lastPath) return;
    lastPath = location.pathname;
    pageView();
  }
  ["pushState", "replaceState"].forEach((m) => {
    const orig = history[m];
    history[m] = function () {
      const r = orig.apply(this, arguments);
      onNav();
      return r;
    };
  });
  addEventListener("popstate", onNav);
  addEventListener("pagehide", beacon);
  addEventListener("online", () => { blockedUntil = 0; schedule(0); });
  document.addEventListener("visibilitychange", () => (document.visibilityState === "hidden" ? beacon() : sendRead()));

  /* ---------- chat state ---------- */
  let conv = load("kohtaamo.conv", null); // {id, seq}: the conversation and the highest seq seen
  if (!conv || conv.id == null || typeof conv.seq !== "number") conv = null;
  const OKEY = "kohtaamo.outbox", TKEY = "kohtaamo.transcript";
  let ui = null, isOpen = false, unread = 0, agentsOnline = null, actionMode = null, persona = null, assignee = "";
  let exposure = null, leadClient = null, rateChoice = null, rated = false, pendingRate = null;
  let lastIncoming = 0, readSent = 0, typingAt = 0, typingOn = false, typingIdle = 0, typingHide = 0;
  const exposures = new Set();
  // Whether a stored conversation is still going on is the server's to say (`ready`: one idle past
  // the workspace's limit is closed then): a rule's action waits for that answer.
  let confirmed = false, held = null;

  const saveConv = () => save("kohtaamo.conv", conv);
  // A short transcript lets the conversation survive page loads; sync then fetches only what is newer.
  function transcript() {
    const t = load(TKEY, null);
    return t && conv && t.id === conv.id && Array.isArray(t.msgs) ? t.msgs : [];
  }
  function remember(m) {
    const msgs = transcript().filter((x) => x.seq !== m.seq);
    msgs.push({ seq: m.seq, author: m.author, author_name: m.author_name || null, body: m.body });
    save(TKEY, { id: conv.id, msgs: msgs.sort((a, b) => a.seq - b.seq).slice(-50) });
  }
  function setConv(id) {
    conv = id == null ? null : { id, seq: 0, status: "pending" }; // a line came: it is going on
    saveConv();
    save(TKEY, null);
    rated = false;
    if (ui) ui.msgs().forEach((n) => n.dataset.seq && n.remove()); // they belonged to another conversation
  }

  /* ---------- socket ---------- */
  let ws = null, sockReady = false, syncing = false, wsBackoff = 500, wsTimer = 0, pingTimer = 0;

  function connect() {
    if (ws || wsTimer) return;
    const q = new URLSearchParams({ site_key: SITE, visitor_id: vid, visit_id: visitId(false) });
    const s = (ws = new WebSocket(`${HOST.replace(/^http/, "ws")}/ws/visitor?${q}`));
    s.onopen = () => { pingTimer = setInterval(() => send({ type: "ping" }), 25e3); };
    s.onmessage = (e) => {
      let f = null;
      try { f = JSON.parse(e.data); } catch (x) { /* ignored */ }
      if (s === ws && f && typeof f === "object") onFrame(f);
    };
    s.onclose = () => {
      if (s !== ws) return;
      ws = null;
      sockReady = syncing = false;
      clearInterval(pingTimer);
      wsTimer = setTimeout(() => { wsTimer = 0; connect(); }, wsBackoff * (0.75 + Math.random() / 2));
      wsBackoff = Math.min(wsBackoff * 2, 30e3);
    };
  }
  function send(f) {
    if (!ws || ws.readyState !== 1 || (!sockReady && f.type !== "ping")) return false;
    ws.send(JSON.stringify(f));
    return true;
  }
  function requestSync() {
    if (conv && !syncing) syncing = send({ type: "sync", conversation_id: conv.id, after: conv.seq });
  }
  const msgFrame = (o) => Object.assign({ type: "message" }, o);

  function onFrame(f) {
    switch (f.type) {
      case "ready": return onReady(f);
      case "message": return onMessage(f);
      case "ack": return onAck(f);
      case "synced":
        syncing = false;
        if (conv && f.conversation_id === conv.id && f.last_seq > conv.seq) { conv.seq = f.last_seq; saveConv(); }
        return sendRead();
      case "conversation": return onConversation(f.conversation || f);
      case "typing": return showTyping(f.on ? f.name || "" : null);
      case "read": return markRead(f.seq);
      case "error": return onError(f);
    }
  }
  function onReady(f) {
    sockReady = true;
    wsBackoff = 500;
    if (typeof f.agents_online === "number") { agentsOnline = f.agents_online; actionMode = null; }
    if (!cfgLoaded && TEXT[f.locale]) { cfg.locale = f.locale; applyConfig(); }
    const c = f.conversation;
    if (c && c.id != null) {
      if (!conv || conv.id !== c.id) setConv(c.id);
      syncing = send({ type: "sync", conversation_id: c.id, after: conv.seq });
      onConversation(c);
    } else if (conv) {
      setConv(null); // the conversation is gone
      onConversation({ id: null });
    }
    list(OKEY).forEach((o) => send(msgFrame(o))); // same client_id: the server stores each once
    if (pendingRate) rate();
    updateMode();
    confirmed = true;
    if (held) { const a = held; held = null; showAction(a); }
  }
  // Notes take numbers the visitor never gets, so a hole in the numbers is not a gap: `prev` names
  // the visitor-visible line before this one, and only a `prev` we do not hold is something missed.
  const prevOf = (m) => (typeof m.prev === "number" ? m.prev : m.seq - 1);
  function onMessage(m) {
    if (m.conversation_id == null || typeof m.seq !== "number") return;
    if (!conv || conv.id !== m.conversation_id) setConv(m.conversation_id);
    if (m.seq <= conv.seq) return; // seen already
    // A gap: set it aside; the replay (ours, or the one in flight) brings it again, in order.
    if (prevOf(m) > conv.seq) return requestSync();
    conv.seq = m.seq;
    saveConv();
    remember(m);
    // Already shown: restored from the transcript, or our own / the rule's message now stored.
    const n = bySeq(m.seq) || (m.client_id && byClient(m.client_id)) || (m.author === "bot" && localRule(m.body));
    if (n) return sent(n, m.seq);
    append(m);
    if (m.author === "visitor") return;
    lastIncoming = m.seq;
    showTyping(null);
    if (!isOpen) badge(unread + 1);
    sendRead();
  }
  function onAck(a) {
    const item = list(OKEY).find((o) => o.client_id === a.client_id);
    dropOutbox(a.client_id);
    if (a.conversation_id != null && (!conv || conv.id !== a.conversation_id)) setConv(a.conversation_id);
    const n = byClient(a.client_id);
    if (n && typeof a.seq === "number") sent(n, a.seq);
    if (conv && a.seq > conv.seq && prevOf(a) <= conv.seq) {
      conv.seq = a.seq;
      saveConv();
      if (item) remember({ seq: a.seq, author: "visitor", body: item.body });
    } else if (conv && a.seq > conv.seq) requestSync();
    if (a.client_id === leadClient) { leadClient = null; thanks(L().leadThanks); }
    updateMode();
  }
  function onError(f) {
    const n = f.client_id && byClient(f.client_id);
    if (!n) return console.warn("Kohtaamo:", f.code, f.message);
    if (f.code === "unavailable" || f.code === "rate_limited") {
      // Not stored yet, not refused: the same client_id goes again (stored once at most).
      const item = list(OKEY).find((o) => o.client_id === f.client_id);
      if (item) setTimeout(() => send(msgFrame(item)), Math.max(1, f.retry_after || 3) * 1000);
      return;
    }
    dropOutbox(f.client_id);
    n.dataset.state = "failed";
    n.append(el("p", { class: "k-err", text: f.message || L().failed }));
    updateMode();
  }
  function onConversation(c) {
    if (!c) return;
    if (c.id != null && (!conv || conv.id !== c.id)) setConv(c.id);
    if (conv && typeof c.status === "string" && conv.status !== c.status) { conv.status = c.status; saveConv(); }
    if (conv && c.last_seq > conv.seq) requestSync();
    const a = c.assignee, pos = c.queue_position;
    assignee = (a && typeof a === "object" ? a.name || a.display_name : a) || "";
    setSub();
    if (!ui) return;
    ui.queue.hidden = !(pos > 0);
    ui.queue.textContent = pos > 0 ? L().queue(pos) : "";
    if (c.status !== "resolved") rated = false;
    ui.rating.hidden = !(c.status === "resolved" && c.rating == null && !rated);
  }
  const dropOutbox = (cid) => save(OKEY, list(OKEY).filter((o) => o.client_id !== cid));

  /* ---------- DOM (textContent only: server and visitor text is never parsed as HTML) ---------- */
  function el(tag, attrs, kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "text") n.textContent = v;
      else n.setAttribute(k, v === true ? "" : v);
    }
    (kids || []).forEach((c) => n.append(c));
    return n;
  }
  function icon(d, cls) {
    const NS = "http://www.w3.org/2000/svg";
    const s = document.createElementNS(NS, "svg"), p = document.createElementNS(NS, "path");
    const attrs = { viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false", class: "k-ico " + (cls || "") };
    for (const [k, v] of Object.entries(attrs)) s.setAttribute(k, v);
    p.setAttribute("d", d);
    s.append(p);
    return s;
  }
  const X = "M6 6l12 12M18 6L6 18";
  const bound = []; // [node, attribute or "text", text key]: re-applied when the locale changes
  const tr = (n, attr, key) => (bound.push([n, attr, key]), n);
  function localize() {
    for (const [n, attr, key] of bound) {
      const v = key === "title" ? cfg.title || L().title : L()[key];
      if (attr === "text") n.textContent = v; else n.setAttribute(attr, v);
    }
  }

  const uiReady = base.then(build).catch((e) => console.warn("Kohtaamo: chat unavailable", e));

  function build() {
    const host = el("div", { id: "kohtaamo-widget" });
    const shadow = host.attachShadow({ mode: "open" });
    const root = el("div", { class: "k-root", hidden: true });
    const link = el("link", { rel: "stylesheet", href: HOST + "/widget.css" });
    link.onload = link.onerror = () => { root.hidden = false; }; // no flash of an unstyled widget

    const badgeEl = el("span", { class: "k-badge", id: "k-badge", "data-k": "badge", hidden: true });
    const bubble = el("button", { type: "button", class: "k-bubble", "data-k": "bubble", "aria-expanded": "false", "aria-controls": "k-panel" },
      [icon("M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z", "k-ico-chat"), icon(X, "k-ico-close"), badgeEl]);
    const sub = el("p", { class: "k-sub", hidden: true });
    const closeBtn = el("button", { type: "button", class: "k-close", "data-k": "close" }, [icon(X)]);
    const log = el("div", { class: "k-log", role: "log", "aria-live": "polite", "data-k": "log", tabindex: "0" });
    const line = (k, role) => el("p", { class: "k-" + k, "data-k": k, role, hidden: true });

    const rateBtn = (v, key, face) => tr(el("button", { type: "button", "data-rate": v, "aria-pressed": "false", text: face }), "aria-label", key);
    const up = rateBtn("up", "good", "👍"), down = rateBtn("down", "bad", "👎");
    const comment = el("textarea", { id: "k-comment", "data-k": "comment", maxlength: "1000", rows: "2" });
    const rateSend = el("button", { type: "button", class: "k-btn", "data-k": "rate-send", disabled: true });
    const rating = el("div", { class: "k-rating", "data-k": "rating", hidden: true }, [
      tr(el("p", { class: "k-rate-q" }), "text", "rateQ"),
      el("div", { class: "k-rate-btns" }, [up, down]),
      tr(el("label", { class: "k-vh", for: "k-comment" }), "text", "comment"),
      tr(comment, "placeholder", "comment"),
      tr(rateSend, "text", "rateSend"),
    ]);

    const email = el("input", { type: "email", id: "k-email", "data-k": "email", autocomplete: "email", maxlength: "254" });
    const offline = el("div", { class: "k-offline", hidden: true }, [
      tr(el("p", { class: "k-note" }), "text", "offline"),
      tr(el("label", { class: "k-label", for: "k-email" }), "text", "email"),
      email,
    ]);
    const input = el("textarea", { id: "k-input", "data-k": "input", rows: "1", maxlength: "4000", enterkeyhint: "send" });
    const sendBtn = el("button", { type: "submit", class: "k-send", "data-k": "send" }, [icon("M4 12l16-8-6 16-2.5-6.5L4 12z")]);
    const form = el("form", { class: "k-form", "data-k": "form" }, [offline, el("div", { class: "k-compose" }, [
      tr(el("label", { class: "k-vh", for: "k-input" }), "text", "input"), tr(input, "placeholder", "placeholder"), sendBtn,
    ])]);
    ui = {
      host, shadow, root, bubble, sub, log, rating, email, offline, input, badge: badgeEl,
      typing: line("typing"), queue: line("queue", "status"), thanks: line("thanks", "status"),
      msgs: () => Array.from(log.children),
    };
    const panel = (ui.panel = el("div", { class: "k-panel", id: "k-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "k-title", "data-k": "panel", hidden: true }, [
      el("div", { class: "k-head" }, [el("div", { class: "k-head-text" }, [tr(el("h2", { class: "k-title", id: "k-title" }), "text", "title"), sub]), closeBtn]),
      log, ui.typing, ui.queue, rating, ui.thanks, form,
    ]));
    [[bubble, "open"], [closeBtn, "close"], [sendBtn, "send"], [log, "log"]].forEach(([n, key]) => tr(n, "aria-label", key));
    root.append(panel, bubble);
    shadow.append(link, root);
    document.body.append(host);

    bubble.addEventListener("click", () => (isOpen ? close(true) : open(true)));
    closeBtn.addEventListener("click", () => close(true));
    shadow.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && isOpen) { e.stopPropagation(); close(true); }
    });
    form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
    input.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
      e.preventDefault();
      if (form.requestSubmit) form.requestSubmit(); // runs the email field's validation
      else if (form.reportValidity()) submit();
    });
    input.addEventListener("input", typingInput);
    [up, down].forEach((b) => b.addEventListener("click", () => {
      rateChoice = b.dataset.rate;
      up.setAttribute("aria-pressed", String(b === up));
      down.setAttribute("aria-pressed", String(b === down));
      rateSend.disabled = false;
    }));
    rateSend.addEventListener("click", () => {
      const text = comment.value.trim().slice(0, 1000);
      pendingRate = text ? { type: "rate", value: rateChoice, comment: text } : { type: "rate", value: rateChoice };
      rated = rating.hidden = true;
      thanks(L().rateThanks);
      input.focus(); // the rating block is gone: keep focus inside the panel
      rate();
    });

    applyConfig();
    // Restore what this visitor already has: the transcript and messages not yet acknowledged.
    transcript().forEach((m) => append(m));
    list(OKEY).forEach((o) => append({ author: "visitor", body: o.body, client_id: o.client_id }, "sending"));
    if (conv || list(OKEY).length) connect();
  }

  function applyConfig() {
    if (typeof cfg.agents_online === "number" && agentsOnline == null) agentsOnline = cfg.agents_online;
    if (!ui) return;
    localize();
    const c = cfg.color;
    if (typeof c === "string" && c && CSS.supports("color", c)) {
      // CSSOM custom properties are allowed under style-src without 'unsafe-inline'.
      ui.root.style.setProperty("--k-accent", c);
      ui.root.style.setProperty("--k-on-accent", isLight(c) ? "#111827" : "#ffffff");
    }
    updateMode();
  }
  function isLight(c) {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c.trim());
    if (!m) return false;
    const h = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    const [r, g, b] = [0, 2, 4].map((i) => {
      const v = parseInt(h.slice(i, i + 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179; // then dark text has more contrast
  }
  function setSub() {
    if (!ui) return;
    const t = assignee || (persona ? [persona.name, persona.title].filter((x) => typeof x === "string" && x).join(" · ") : "");
    ui.sub.textContent = t;
    ui.sub.hidden = !t;
  }
  function updateMode() {
    if (!ui) return;
    const leave = actionMode ? actionMode === "leave_message" : agentsOnline === 0;
    const need = leave && !conv && !list(OKEY).length && !leadClient;
    ui.offline.hidden = !need;
    ui.email.required = need;
    ui.email.disabled = !need;
  }
  function thanks(text) {
    ui.thanks.textContent = text;
    ui.thanks.hidden = false;
  }
  function badge(n) {
    unread = n;
    if (!ui) return;
    ui.badge.hidden = !n;
    ui.badge.replaceChildren(n > 9 ? "9+" : String(n), el("span", { class: "k-vh", text: L().unread }));
    if (n) ui.bubble.setAttribute("aria-describedby", "k-badge");
    else ui.bubble.removeAttribute("aria-describedby");
  }

  function append(m, state) {
    const mine = m.author === "visitor";
    const n = el("div", {
      class: `k-msg ${mine ? "k-me" : m.author === "system" ? "k-sys" : "k-them"}`, "data-k": "msg", "data-author": m.author,
      "data-seq": m.seq || null, "data-client-id": m.client_id || null, "data-state": state || "sent", "data-local": state === "local",
    });
    if (m.author !== "system") n.append(el("span", { class: "k-who", text: mine ? L().you : m.author_name || cfg.title || L().title }));
    n.append(el("div", { class: "k-text", text: String(m.body == null ? "" : m.body) }));
    // Keep seq order even when a replayed message arrives after a newer one.
    const later = m.seq ? ui.msgs().find((x) => x.dataset.seq > m.seq) : null;
    ui.log.insertBefore(n, later || null);
    ui.log.scrollTop = ui.log.scrollHeight;
    return n;
  }
  const bySeq = (seq) => ui && ui.msgs().find((n) => Number(n.dataset.seq) === seq);
  const byClient = (cid) => ui && ui.msgs().find((n) => n.dataset.clientId === cid);
  const localRule = (body) => ui && ui.msgs().find((n) => n.dataset.local != null && n.lastChild.textContent === body);
  function sent(n, seq) {
    n.dataset.seq = seq;
    n.dataset.state = "sent";
    delete n.dataset.local;
  }
  function markRead(seq) {
    if (!ui || typeof seq !== "number") return;
    ui.log.querySelectorAll(".k-read").forEach((x) => x.remove());
    const mine = ui.msgs().filter((n) => n.dataset.author === "visitor" && n.dataset.seq && n.dataset.seq <= seq);
    mine.forEach((n) => { n.dataset.read = "1"; });
    if (mine.length) mine[mine.length - 1].append(el("span", { class: "k-read", text: L().read }));
  }
  function showTyping(name) {
    if (!ui) return;
    clearTimeout(typingHide);
    ui.typing.hidden = name == null;
    ui.typing.textContent = name == null ? "" : `${name ? name + " " : ""}${L().typing}`;
    if (name != null) typingHide = setTimeout(() => showTyping(null), 10e3); // a lost "off" must not stick
  }

  // A conversation not yet closed: every line in the panel is a stored line of it.
  const talking = () => !!conv && conv.status != null && conv.status !== "resolved";
  function showAction(a) {
    if (!ui || !a || typeof a !== "object") return;
    const text = (a.messages && a.messages[cfg.locale]) || a.message;
    if (typeof text !== "string" || !text.trim() || exposures.has(a.exposure_id)) return;
    if (conv && !confirmed) { held = a; return; } // shown (or not) once `ready` has said
    exposures.add(a.exposure_id);
    // The server keeps rules quiet during a conversation (ADR 0012); one decided a moment before it
    // opened is not shown either: the agent would never see that line, nor would a reload.
    if (talking()) return;
    // Only the latest rule's line waits for a reply (the reply stores it): drop an older one.
    ui.msgs().forEach((n) => n.dataset.local != null && !n.dataset.seq && n.remove());
    if (a.exposure_id != null) exposure = a.exposure_id;
    if (a.mode) actionMode = a.mode;
    persona = a.persona && typeof a.persona === "object" ? a.persona : null;
    setSub();
    append({ author: "bot", author_name: (persona && persona.name) || cfg.title || L().title, body: text }, "local");
    open(false); // a rule must not pull focus away from what the shopper is doing
  }

  function open(focus) {
    if (!ui) return void uiReady.then(() => ui && open(focus));
    isOpen = true;
    ui.panel.hidden = false;
    ui.root.classList.add("k-open");
    ui.bubble.setAttribute("aria-expanded", "true");
    badge(0);
    updateMode();
    connect();
    ui.log.scrollTop = ui.log.scrollHeight;
    if (focus) ui.input.focus();
    sendRead();
  }
  function close(refocus) {
    if (!ui) return;
    const inside = ui.shadow.activeElement;
    isOpen = false;
    ui.panel.hidden = true;
    ui.root.classList.remove("k-open");
    ui.bubble.setAttribute("aria-expanded", "false");
    stopTyping();
    if (refocus || inside) ui.bubble.focus();
  }

  function submit() {
    const body = ui.input.value.trim();
    if (!body) return;
    const item = { client_id: uuid(), body: body.slice(0, 4000) };
    if (!talking() && exposure != null) item.exposure_id = exposure; // links the new conversation to the rule
    if (!ui.offline.hidden) {
      if (!ui.email.reportValidity()) return;
      item.email = ui.email.value.trim();
      leadClient = item.client_id;
    }
    exposure = null;
    ui.thanks.hidden = true;
    save(OKEY, list(OKEY).concat(item));
    append({ author: "visitor", body: item.body, client_id: item.client_id }, "sending");
    ui.input.value = "";
    stopTyping();
    updateMode();
    if (!send(msgFrame(item))) connect(); // otherwise sent from the outbox on "ready"
  }
  function rate() {
    if (pendingRate && send(pendingRate)) pendingRate = null;
    else connect();
  }
  function typingInput() {
    const now = Date.now();
    if (conv && now - typingAt > 3000 && send({ type: "typing", on: true })) {
      typingAt = now;
      typingOn = true;
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingOn) send({ type: "typing", on: false });
    typingOn = false;
    typingAt = 0;
  }
  function sendRead() {
    if (!isOpen || document.visibilityState !== "visible" || !conv || syncing || lastIncoming <= readSent) return;
    if (send({ type: "read", seq: conv.seq })) readSent = conv.seq;
  }

  /* ---------- public API ---------- */
  const api = {
    track(type, props) {
      if (typeof type !== "string" || !TYPE_RE.test(type)) return void console.warn("Kohtaamo.track: bad event type", type);
      let json = "";
      try { json = JSON.stringify(props == null ? {} : props); } catch (e) { /* refused below */ }
      if (!json.startsWith("{") || json.length > 4096) return void console.warn("Kohtaamo.track: props must be an object under 4 KiB");
      return enqueue(type, JSON.parse(json));
    },
    // With identity verification on, the shop's server passes { signature }: hex HMAC-SHA256
    // of the customer id with the workspace's identity secret.
    identify(customerId, options) {
      if (customerId == null || customerId === "") return void console.warn("Kohtaamo.identify: customer id missing");
      const props = { customer_id: String(customerId) };
      if (options && options.signature) props.signature = String(options.signature);
      return api.track("identify", props);
    },
    open: () => open(true),
    close: () => close(false),
    q: [],
    visitorId: vid,
    ready: uiReady.then(() => api),
  };
  const run = (c) => {
    try {
      if (Array.isArray(c) && ["track", "identify", "open", "close"].includes(c[0])) api[c[0]](...c.slice(1));
    } catch (e) { console.warn("Kohtaamo:", e); }
  };
  const earlier = window.Kohtaamo && Array.isArray(window.Kohtaamo.q) ? window.Kohtaamo.q : [];
  api.q.push = (...calls) => (calls.forEach(run), 0); // a stub's late pushes run at once
  window.Kohtaamo = api;
  pageView();
  earlier.forEach(run);
  if (list(QKEY).length) schedule(300); // events left over from an earlier page
})();
