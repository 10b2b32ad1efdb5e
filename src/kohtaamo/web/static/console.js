// The agent console: inbox, conversation, visitor context. One socket (/ws/agent), REST for the
// rest. Everything people wrote is put in the page with textContent, never as HTML.
"use strict";
(function () {
  var root = document.getElementById("console");
  if (!root) return;
  var boot = JSON.parse(document.getElementById("console-boot").textContent);
  var T = boot.texts;
  var WS = boot.workspace_id;
  var ME = boot.user_id;
  var API = "/api/v1/workspaces/" + WS;
  var LOCALE = boot.locale === "fi" ? "fi-FI" : "en-GB";

  var rows = new Map(); // conversation id -> inbox row
  var view = "mine";
  var query = "";
  var current = null; // open conversation id
  var seen = {}; // conversation id -> highest seq shown
  var pending = new Map(); // client_id -> {cid, el}
  var outbox = []; // frames waiting for the socket
  var agents = boot.agents || [];
  var sock = null;
  var backoff = 500;
  var typingTimer = null;
  var lastTyping = 0;
  var readTimer = null;
  var listTimer = null;

  function t(key, params) {
    var s = T[key] || key;
    if (params) Object.keys(params).forEach(function (k) { s = s.split("{" + k + "}").join(String(params[k])); });
    return s;
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (attrs[k] === null || attrs[k] === undefined || attrs[k] === false) return;
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function $(id) { return document.getElementById(id); }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function time(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    var today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleDateString(LOCALE, { day: "numeric", month: "numeric" }) + " " + d.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" });
  }
  function money(minor, currency) {
    try { return new Intl.NumberFormat(LOCALE, { style: "currency", currency: currency || boot.currency }).format((minor || 0) / 100); }
    catch (e) { return ((minor || 0) / 100).toFixed(2) + " " + (currency || ""); }
  }
  function visitorLabel(row) {
    return row.lead_email || row.customer_id || (T.visitor + " " + String(row.visitor_key || "").slice(-6));
  }
  function toast(text) {
    var box = $("toast");
    box.textContent = text; box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 5000);
  }
  function api(method, path, body) {
    return fetch(API + path, {
      method: method, credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": boot.csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var d = (data && data.detail) || {}; throw new Error(d.message || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  // --- notices: a short tone, the tab title, a toast -------------------------------------------
  var baseTitle = document.title;
  var unseen = 0;
  function beep() {
    if (!$("sound").checked) return;
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      beep.ctx = beep.ctx || new Ctx();
      var o = beep.ctx.createOscillator(), g = beep.ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.08;
      o.connect(g); g.connect(beep.ctx.destination);
      o.start(); o.stop(beep.ctx.currentTime + 0.18);
    } catch (e) { /* no audio: the toast and title still tell */ }
  }
  function notify(text) {
    beep(); toast(text);
    if (document.hidden) { unseen += 1; document.title = "(" + unseen + ") " + baseTitle; }
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unseen = 0; document.title = baseTitle; scheduleRead(); }
  });

  // --- socket ----------------------------------------------------------------------------------
  function connStatus(key) { $("conn").textContent = t(key); $("conn").dataset.state = key; }
  function connect() {
    connStatus("connecting");
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    sock = new WebSocket(proto + location.host + "/ws/agent");
    sock.onopen = function () { backoff = 500; connStatus("online"); };
    sock.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    sock.onclose = function () {
      sock = null; connStatus("offline");
      setTimeout(connect, backoff + Math.random() * 300);
      backoff = Math.min(backoff * 2, 15000);
    };
  }
  function send(frame) {
    if (sock && sock.readyState === 1) sock.send(JSON.stringify(frame));
    else if (frame.type === "message") outbox.push(frame);
  }
  setInterval(function () { send({ type: "ping" }); }, 25000);

  function handle(f) {
    if (f.workspace_id !== undefined && f.workspace_id !== WS) return;
    switch (f.type) {
      case "ready":
        // No longer a member here (the server closed the last socket, 4409): leave the inbox.
        if (f.workspaces && f.workspaces.indexOf(WS) < 0) { location.href = "/workspaces"; return; }
        if (current) send({ type: "sync", conversation_id: current, after: seen[current] || 0 });
        outbox.splice(0).forEach(send);
        loadList();
        break;
      case "message": onMessage(f); break;
      case "ack": onAck(f); break;
      case "synced":
        if (f.conversation_id === current) { seen[current] = Math.max(seen[current] || 0, f.last_seq); scheduleRead(); }
        break;
      case "conversation": onConversation(f.conversation); break;
      case "typing":
        if (f.conversation_id === current && f.author === "visitor") showTyping(f.on);
        break;
      case "read":
        if (f.conversation_id === current && f.by === "visitor") markRead(f.seq);
        break;
      case "notice":
        if (f.user_id === ME) notify(t("new_chat") + (f.preview ? ": " + f.preview : ""));
        scheduleList();
        break;
      case "agent":
        agents = agents.map(function (a) { return a.user_id === f.user_id ? Object.assign({}, a, f) : a; });
        break;
      case "error":
        if (f.client_id && pending.has(f.client_id)) failPending(f.client_id, f.message);
        else toast(t("error", { message: f.message }));
        break;
    }
  }

  // --- inbox list ------------------------------------------------------------------------------
  function scheduleList() { clearTimeout(listTimer); listTimer = setTimeout(loadList, 250); }
  function loadList() {
    var path = "/conversations?limit=100&view=" + encodeURIComponent(view) + (query ? "&q=" + encodeURIComponent(query) : "");
    return api("GET", path).then(function (page) {
      rows = new Map();
      page.items.forEach(function (c) { rows.set(c.id, c); });
      renderList();
    }).catch(function (e) { toast(t("error", { message: e.message })); });
  }
  function renderList() {
    var list = $("list");
    list.textContent = "";
    var items = Array.from(rows.values()).sort(function (a, b) { return (b.last_message_at || "").localeCompare(a.last_message_at || ""); });
    if (!items.length) list.appendChild(el("li", { class: "none muted" }, t("nothing")));
    items.forEach(function (c) {
      var unread = c.last_seq > (c.agent_read_seq || 0) && c.status !== "resolved";
      var li = el("li", { class: "row" + (c.id === current ? " on" : "") + (unread ? " unread" : ""), "data-conversation": c.id });
      var b = el("button", { type: "button", "aria-current": c.id === current ? "true" : null });
      var top = el("span", { class: "line" });
      top.appendChild(el("strong", { class: "name" }, visitorLabel(c)));
      top.appendChild(el("time", { class: "muted" }, time(c.last_message_at)));
      b.appendChild(top);
      b.appendChild(el("span", { class: "preview" }, c.preview || ""));
      var tags = el("span", { class: "tags" });
      tags.appendChild(el("span", { class: "st st-" + c.status }, t("status." + c.status)));
      if (c.queue_position) tags.appendChild(el("span", { class: "tag" }, t("queue", { n: c.queue_position })));
      if (c.lead_email) tags.appendChild(el("span", { class: "tag lead" }, t("lead")));
      if (c.rule_id) tags.appendChild(el("span", { class: "tag rule" }, "⚡"));
      if (c.assignee_name && c.assignee_id !== ME) tags.appendChild(el("span", { class: "tag" }, t("assigned_to", { name: c.assignee_name })));
      if (c.rating) tags.appendChild(el("span", { class: "tag" }, t("rating." + c.rating)));
      b.appendChild(tags);
      b.addEventListener("click", function () { open(c.id); });
      li.appendChild(b);
      list.appendChild(li);
    });
  }
  function onConversation(c) {
    var known = rows.get(c.id);
    rows.set(c.id, Object.assign({}, known || {}, c));
    if (c.id === current) renderHeader();
    scheduleList(); // which views it belongs to may have changed: the server decides
    renderList();
  }
  Array.prototype.forEach.call(document.querySelectorAll(".views .view"), function (b) {
    b.addEventListener("click", function () {
      view = b.dataset.view;
      Array.prototype.forEach.call(document.querySelectorAll(".views .view"), function (x) {
        x.classList.toggle("on", x === b); x.setAttribute("aria-pressed", x === b ? "true" : "false");
      });
      loadList();
    });
  });
  $("search").addEventListener("submit", function (ev) { ev.preventDefault(); query = $("q").value.trim(); loadList(); });
  $("q").addEventListener("search", function () { query = $("q").value.trim(); loadList(); });

  // --- the conversation ------------------------------------------------------------------------
  function open(cid) {
    current = cid;
    seen[cid] = 0;
    var url = new URL(location.href); url.searchParams.set("c", cid); history.replaceState(null, "", url);
    var thread = $("thread");
    thread.textContent = "";
    thread.appendChild(el("header", { class: "thread-head", id: "thread-head" }));
    var log = el("ol", { class: "log", id: "log", role: "log", "aria-live": "polite", "data-k": "log" });
    thread.appendChild(log);
    thread.appendChild(el("p", { class: "typing muted", id: "typing", hidden: "hidden" }));
    thread.appendChild(composer());
    renderHeader();
    renderList();
    $("context").textContent = "";
    api("GET", "/conversations/" + cid + "/context").then(renderContext).catch(function () {});
    if (!rows.has(cid)) api("GET", "/conversations/" + cid).then(function (c) { rows.set(c.id, c); renderHeader(); });
    send({ type: "sync", conversation_id: cid, after: 0 });
    $("reply").focus();
  }
  function renderHeader() {
    var head = $("thread-head");
    var c = rows.get(current);
    if (!head || !c) return;
    head.textContent = "";
    var title = el("div", { class: "title" });
    title.appendChild(el("h2", null, visitorLabel(c)));
    var sub = c.assignee_name ? t("assigned_to", { name: c.assignee_name }) : t("unassigned");
    title.appendChild(el("span", { class: "st st-" + c.status }, t("status." + c.status)));
    title.appendChild(el("span", { class: "muted" }, " " + sub));
    head.appendChild(title);
    var actions = el("div", { class: "actions" });
    if (c.status !== "resolved" && c.assignee_id !== ME) actions.appendChild(button(t("take"), "take", function () { act("POST", "/assign", {}); }));
    if (c.status !== "resolved") {
      var sel = el("select", { "aria-label": t("forward_to"), "data-k": "forward" });
      sel.appendChild(el("option", { value: "" }, t("forward") + "…"));
      agents.filter(function (a) { return a.user_id !== c.assignee_id; }).forEach(function (a) {
        sel.appendChild(el("option", { value: "u" + a.user_id }, a.name + (a.connected ? "" : " (" + t("offline").replace("…", "") + ")")));
      });
      (boot.teams || []).forEach(function (tm) { sel.appendChild(el("option", { value: "t" + tm.id }, "👥 " + tm.name)); });
      sel.addEventListener("change", function () {
        var v = sel.value; if (!v) return;
        act("POST", "/forward", v[0] === "u" ? { to_user_id: +v.slice(1) } : { to_team_id: +v.slice(1) });
      });
      actions.appendChild(sel);
      actions.appendChild(button(t("close"), "close", function () { act("POST", "/resolve"); }, "primary"));
    } else {
      actions.appendChild(button(t("reopen"), "reopen", function () { act("POST", "/reopen"); }));
    }
    var exp = el("a", { class: "button", href: API + "/conversations/" + c.id + "/export?format=txt&lang=" + boot.locale, "data-k": "export" }, t("export"));
    actions.appendChild(exp);
    head.appendChild(actions);
  }
  function button(text, key, fn, cls) {
    var b = el("button", { type: "button", "data-k": key, class: cls || null }, text);
    b.addEventListener("click", fn);
    return b;
  }
  function act(method, suffix, body) {
    var cid = current;
    return api(method, "/conversations/" + cid + suffix, body).then(function (c) {
      rows.set(c.id, Object.assign({}, rows.get(c.id) || {}, c));
      renderHeader(); scheduleList();
    }).catch(function (e) { toast(t("error", { message: e.message })); });
  }

  function onMessage(m) {
    var row = rows.get(m.conversation_id);
    if (row && !m.note) { row.preview = m.body; row.last_message_at = m.at; row.last_seq = Math.max(row.last_seq || 0, m.seq); }
    if (m.author === "visitor" && m.conversation_id !== current && row && row.assignee_id === ME) notify(visitorLabel(row) + ": " + m.body);
    if (m.conversation_id !== current) { renderList(); return; }
    if (m.author === "visitor") { showTyping(false); if (document.hidden) notify(m.body); }
    var last = seen[current] || 0;
    if (m.seq <= last && !(m.client_id && pending.has(m.client_id))) return;
    if (m.seq > last + 1 && !$("log").querySelector('[data-seq="' + (m.seq - 1) + '"]')) {
      // A gap: ask for what is missing; the server replays it in order and skips what we have.
      send({ type: "sync", conversation_id: current, after: last });
    }
    seen[current] = Math.max(last, m.seq);
    if (m.client_id && pending.has(m.client_id)) { settle(m.client_id, m); return; }
    appendMessage(m);
    scheduleRead();
  }
  function appendMessage(m, state) {
    var log = $("log");
    if (!log) return null;
    if (m.seq && log.querySelector('[data-seq="' + m.seq + '"]')) return null;
    var mine = m.author === "agent" && m.author_id === ME;
    var li = el("li", {
      class: "msg " + m.author + (m.note ? " note" : "") + (m.author === "agent" ? " out" : ""),
      "data-k": "msg", "data-author": m.author, "data-seq": m.seq || null, "data-state": state || null
    });
    var meta = el("div", { class: "meta" });
    var who = m.note ? t("note") + " · " + (m.author_name || "") : (m.author === "visitor" ? t("visitor") : (m.author_name || (m.author === "bot" ? t("opening") : (mine ? t("you") : ""))));
    meta.appendChild(el("span", { class: "who" }, who));
    meta.appendChild(el("time", null, state === "sending" ? t("sending") : time(m.at)));
    if (m.author !== "system") li.appendChild(meta);
    li.appendChild(el("div", { class: "body" }, m.body));
    // Keep order by seq: a replayed older message goes before later ones.
    var after = null;
    if (m.seq) Array.prototype.some.call(log.children, function (x) { var s = +x.dataset.seq; if (s && s > m.seq) { after = x; return true; } return false; });
    log.insertBefore(li, after);
    if (!after) li.scrollIntoView({ block: "end" });
    return li;
  }
  function settle(clientId, m) {
    var p = pending.get(clientId); pending.delete(clientId);
    if (!p || !p.el) return;
    p.el.dataset.seq = m.seq; p.el.removeAttribute("data-state");
    p.el.querySelector("time").textContent = time(m.at);
  }
  function onAck(a) { if (pending.has(a.client_id) && a.conversation_id === current) settle(a.client_id, a); }
  function failPending(clientId, message) {
    var p = pending.get(clientId); pending.delete(clientId);
    if (p && p.el) { p.el.dataset.state = "failed"; p.el.querySelector("time").textContent = t("failed") + ": " + message; }
  }
  function markRead(seq) {
    Array.prototype.forEach.call($("log").querySelectorAll(".msg.out"), function (x) {
      if (+x.dataset.seq <= seq) x.dataset.read = "1";
    });
  }
  function showTyping(on) {
    var line = $("typing"); if (!line) return;
    var c = rows.get(current);
    line.textContent = (c ? visitorLabel(c) : t("visitor")) + " " + t("typing");
    line.hidden = !on;
    clearTimeout(showTyping.timer);
    if (on) showTyping.timer = setTimeout(function () { line.hidden = true; }, 6000);
  }
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      if (current && !document.hidden && seen[current]) send({ type: "read", conversation_id: current, seq: seen[current] });
    }, 400);
  }

  // --- composer with canned replies ("/shortcut") ------------------------------------------------
  function composer() {
    var form = el("form", { class: "composer", id: "composer" });
    var note = el("label", { class: "check small" });
    var box = el("input", { type: "checkbox", id: "as-note", "data-k": "note" });
    note.appendChild(box); note.appendChild(document.createTextNode(" " + t("note_toggle")));
    var area = el("textarea", { id: "reply", rows: "3", maxlength: "4000", placeholder: t("reply_placeholder"), "aria-label": t("reply_placeholder"), "data-k": "reply" });
    var picks = el("ul", { class: "picks", id: "picks", role: "listbox", hidden: "hidden", "data-k": "canned" });
    var bar = el("div", { class: "bar" });
    bar.appendChild(note);
    bar.appendChild(el("button", { type: "submit", class: "primary", "data-k": "send" }, t("send")));
    form.appendChild(picks); form.appendChild(area); form.appendChild(bar);
    box.addEventListener("change", function () {
      form.classList.toggle("noting", box.checked);
      area.placeholder = box.checked ? t("note_placeholder") : t("reply_placeholder");
    });
    area.addEventListener("input", function () { suggest(area, picks); typing(area); });
    area.addEventListener("keydown", function (ev) {
      if (!picks.hidden && (ev.key === "Tab" || ev.key === "Enter") && picks.firstChild) { ev.preventDefault(); choose(picks.firstChild.dataset.index, area, picks); return; }
      if (ev.key === "Escape") { picks.hidden = true; return; }
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); submit(area, box); }
    });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(area, box); });
    return form;
  }
  function suggest(area, picks) {
    var v = area.value;
    picks.textContent = "";
    if (v[0] !== "/" || v.indexOf(" ") >= 0) { picks.hidden = true; return; }
    var c = rows.get(current) || {};
    var want = c.locale || boot.locale;
    var key = v.slice(1).toLowerCase();
    var found = (boot.canned || []).map(function (r, i) { return [r, i]; }).filter(function (x) { return x[0].shortcut.indexOf(key) === 0; });
    found.sort(function (a, b) { return (a[0].locale === want ? 0 : 1) - (b[0].locale === want ? 0 : 1); });
    found.slice(0, 8).forEach(function (x) {
      var li = el("li", { role: "option", "data-index": x[1] });
      li.appendChild(el("strong", null, "/" + x[0].shortcut));
      li.appendChild(el("span", { class: "muted" }, " " + x[0].locale + " · " + x[0].title));
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(x[1], area, picks); });
      picks.appendChild(li);
    });
    picks.hidden = !found.length;
  }
  function choose(index, area, picks) {
    var r = boot.canned[+index];
    area.value = r.body; picks.hidden = true; area.focus();
  }
  function typing(area) {
    if (!current || $("as-note").checked) return;
    var now = Date.now();
    if (now - lastTyping > 3000) { lastTyping = now; send({ type: "typing", conversation_id: current, on: true }); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { lastTyping = 0; send({ type: "typing", conversation_id: current, on: false }); }, 4000);
    if (!area.value) { clearTimeout(typingTimer); lastTyping = 0; send({ type: "typing", conversation_id: current, on: false }); }
  }
  function submit(area, box) {
    var body = area.value.trim();
    if (!body || !current) return;
    var cid = uuid();
    var frame = { type: "message", conversation_id: current, client_id: cid, body: body, note: box.checked };
    var li = appendMessage({ author: "agent", author_id: ME, author_name: boot.name, body: body, note: box.checked }, "sending");
    pending.set(cid, { cid: current, el: li });
    send(frame);
    area.value = "";
    // A note is one line: the next line is a reply unless the agent ticks the box again (issue 12).
    if (box.checked) { box.checked = false; box.dispatchEvent(new Event("change")); }
    $("picks").hidden = true;
    clearTimeout(typingTimer); lastTyping = 0;
    send({ type: "typing", conversation_id: current, on: false });
  }

  // --- visitor context ---------------------------------------------------------------------------
  function section(parent, title) {
    var s = el("section", { class: "ctx" });
    s.appendChild(el("h3", null, title));
    parent.appendChild(s);
    return s;
  }
  function kv(parent, key, value) {
    var row = el("div", { class: "kv" });
    row.appendChild(el("span", { class: "k muted" }, key));
    row.appendChild(el("span", { class: "v" }, value));
    parent.appendChild(row);
  }
  function renderContext(ctx) {
    if (ctx.conversation_id !== current) return;
    var box = $("context");
    box.textContent = "";
    box.appendChild(el("h2", null, t("ctx.title")));
    var v = ctx.live || ctx.opened || {};
    if (ctx.customer_id || ctx.lead_email || v.number) {
      var who = section(box, t("ctx.visit"));
      if (ctx.customer_id) kv(who, t("ctx.customer"), ctx.customer_id);
      if (ctx.lead_email) kv(who, t("ctx.email"), ctx.lead_email);
      if (v.number) kv(who, t("ctx.visit"), t("ctx.visit_n", { n: v.number, pages: v.pages_viewed || 0 }));
    }
    var page = section(box, ctx.live ? t("ctx.now") : t("ctx.opened_on"));
    if (!ctx.live) page.appendChild(el("p", { class: "muted small" }, t("ctx.gone")));
    if (v.page) { page.appendChild(el("p", { class: "url", "data-k": "ctx-page" }, v.page.url)); page.appendChild(el("span", { class: "tag" }, v.page.type)); }
    var cart = section(box, t("ctx.cart"));
    var lines = v.cart && v.cart.lines ? Object.keys(v.cart.lines) : [];
    if (!lines.length) cart.appendChild(el("p", { class: "muted" }, t("ctx.cart_empty")));
    else {
      var ul = el("ul", { class: "cart", "data-k": "ctx-cart" });
      lines.forEach(function (id) { var l = v.cart.lines[id]; ul.appendChild(el("li", null, id + " × " + l.quantity + " · " + money(l.unit_price * l.quantity, v.cart.currency))); });
      cart.appendChild(ul);
      kv(cart, "Σ", money(v.cart.value, v.cart.currency));
    }
    var errs = section(box, t("ctx.errors"));
    var any = false;
    Object.keys(v.form_errors || {}).forEach(function (k) { any = true; kv(errs, t("ctx.form_errors"), k + " × " + v.form_errors[k]); });
    Object.keys(v.payment_failures || {}).forEach(function (k) { any = true; kv(errs, t("ctx.payment_failures"), k + " × " + v.payment_failures[k]); });
    if (v.internal_not_found) { any = true; kv(errs, t("ctx.not_found"), String(v.internal_not_found)); }
    ["discount_rejected", "login_failed", "account_locked", "cart_add_failed", "server_error", "registration_failed"].forEach(function (k) {
      var n = (v.counts || {})[k]; if (n) { any = true; kv(errs, k.replace(/_/g, " "), String(n)); }
    });
    if (!any) errs.appendChild(el("p", { class: "muted" }, t("ctx.no_errors")));
    var orders = section(box, t("ctx.orders"));
    if (ctx.customer && ctx.customer.orders) orders.appendChild(el("p", null, t("ctx.orders_sum", { n: ctx.customer.orders, value: money(ctx.customer.lifetime_value, ctx.customer.currency) })));
    else orders.appendChild(el("p", { class: "muted" }, t("ctx.no_orders")));
    var rule = section(box, t("ctx.rule"));
    if (ctx.rule) {
      var p = el("p", { "data-k": "ctx-rule" });
      p.appendChild(el("strong", null, ctx.rule.name));
      if (ctx.rule.variant) p.appendChild(el("span", { class: "muted" }, " · " + ctx.rule.variant));
      rule.appendChild(p);
    } else rule.appendChild(el("p", { class: "muted" }, t("ctx.by_visitor")));
  }

  // --- presence ------------------------------------------------------------------------------------
  $("my-status").addEventListener("change", function () { send({ type: "presence", workspace_id: WS, status: $("my-status").value }); });
  $("my-capacity").addEventListener("change", function () {
    var n = parseInt($("my-capacity").value, 10);
    if (n >= 0 && n <= 50) send({ type: "presence", workspace_id: WS, capacity: n });
  });
  // A presence frame is not a message: sent when the socket opens, not queued.
  connect();
  if (boot.open) open(+boot.open);
  else loadList();
})();
