// hookguard console: plain JavaScript over the admin API. The token lives in this tab's
// sessionStorage and travels only in the Authorization header. Every value from the API
// is put into the page as text (never as HTML).
"use strict";

const TOKEN = "hookguard.admin_token";

function token() { return sessionStorage.getItem(TOKEN); }

function status(text, isError) {
  const el = document.getElementById("status");
  if (!el) return;
  el.textContent = text || "";
  el.className = isError ? "error" : "";
}

class ApiError extends Error {
  constructor(status, body) { super(body && body.message ? body.message : "HTTP " + status); this.status = status; }
}

async function api(method, path, body) {
  const init = { method, headers: { "Authorization": "Bearer " + token() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch("/api/v1" + path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (response.status === 401 && document.body.dataset.page !== "login") {
    sessionStorage.removeItem(TOKEN);
    location.assign("/ui/login");
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// el("td", {className: "x"}, "text", childNode, ...)
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("aria-") || k === "role" || k === "scope") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function button(label, action, data, handler, secondary) {
  const b = el("button", { type: "button", className: secondary ? "secondary" : "", dataset: Object.assign({ action }, data) }, label);
  b.addEventListener("click", handler);
  return b;
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colSpan: columns }, empty))]));
}

function when(value) { return value ? new Date(value).toLocaleString() : "—"; }

const pages = {};

pages.login = () => {
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = document.getElementById("token").value.trim();
    sessionStorage.setItem(TOKEN, value);
    try {
      await api("GET", "/routes");
      location.assign("/ui/");
    } catch (err) {
      sessionStorage.removeItem(TOKEN);
      document.getElementById("login-error").textContent = "Not signed in: " + err.message;
    }
  });
};

pages[""] = async () => {
  const data = await api("GET", "/routes");
  const rows = data.items.map((r) => {
    const stats = r.stats || { requests: [], latency: { last_5m: {} }, recent_failures: [] };
    const total = stats.requests.reduce((n, c) => n + c.requests, 0);
    const refused = stats.requests.filter((c) => c.outcome === "rejected").reduce((n, c) => n + c.requests, 0);
    const m = r.match || {};
    const match = m.path || (m.path_prefix ? m.path_prefix + "…" : m.key_prefix + "{key}");
    const rl = r.rate_limit.per_route || r.rate_limit.per_client;
    const l5 = stats.latency.last_5m;
    const failures = stats.recent_failures.map((f) => f.reason || f.outcome).join(", ");
    const name = m.key_prefix ? el("a", { href: "/ui/routes/" + encodeURIComponent(r.id) }, r.id) : r.id;
    return el("tr", { dataset: { route: r.id } },
      el("th", { scope: "row" }, name), el("td", {}, el("code", {}, match)), el("td", {}, r.scheme),
      el("td", {}, r.mode), el("td", {}, r.delivery), el("td", {}, rl ? rl.requests + " / " + rl.per : "—"),
      el("td", {}, total), el("td", {}, refused),
      el("td", {}, l5.p50_ms != null ? l5.p50_ms + " ms / " + l5.p95_ms + " ms" : "—"),
      el("td", {}, failures || "—"));
  });
  fill(document.querySelector("#routes tbody"), rows, "No routes.", 10);
};

pages.route = async () => {
  const route = document.body.dataset.route;
  const summary = document.getElementById("route-summary");
  const baseInput = document.getElementById("base-url");
  const r = await api("GET", "/routes/" + encodeURIComponent(route));
  if (!baseInput.value) baseInput.value = location.protocol + "//" + location.hostname + ":" + String(r.listen).split(":").pop();
  summary.replaceChildren(el("p", {}, "Route ", el("strong", {}, r.id), " · scheme ", r.scheme, " · mode ", r.mode,
    " · keys under ", el("code", {}, r.match.key_prefix || "—")));
  const dialog = document.getElementById("regenerate-dialog");
  async function act(fn, done) {
    try { await fn(); status(done); await load(); } catch (err) { status(err.message, true); }
  }
  async function load() {
    const data = await api("GET", "/keys?route=" + encodeURIComponent(route));
    const rows = data.items.map((k) => {
      const url = el("code", { className: "url" }, k.url_path.replace(/wh_(\w{4})\w+/, "wh_$1…"));
      const toggle = k.enabled
        ? button("Disable", "disable", { key: k.id }, () => act(() => api("POST", "/keys/" + k.id + "/disable"), "Key " + k.id + " disabled."), true)
        : button("Enable", "enable", { key: k.id }, () => act(() => api("POST", "/keys/" + k.id + "/enable"), "Key " + k.id + " enabled."));
      const copy = button("Copy URL", "copy", { key: k.id }, async () => {
        const full = baseInput.value.replace(/\/$/, "") + k.url_path;
        try { await navigator.clipboard.writeText(full); status("URL of " + k.id + " copied."); }
        catch (_) { window.prompt("Copy the URL:", full); }
      }, true);
      const actions = el("td", { className: "actions" }, toggle, copy);
      if (k.origin === "api") {
        actions.append(button("Regenerate", "regenerate", { key: k.id }, () => {
          document.getElementById("regenerate-id").textContent = k.id;
          dialog.dataset.key = k.id;
          dialog.showModal();
        }, true));
        actions.append(button("Delete", "delete", { key: k.id }, () => {
          if (window.confirm("Delete key " + k.id + "? Its URL will answer 404.")) {
            act(() => api("DELETE", "/keys/" + k.id), "Key " + k.id + " deleted.");
          }
        }, true));
      }
      const refused = Object.entries(k.stats.rejected).map(([reason, n]) => reason + ": " + n).join(", ");
      return el("tr", { dataset: { key: k.id, url: k.url_path } },
        el("th", { scope: "row" }, k.id), el("td", {}, k.origin),
        el("td", {}, el("span", { className: k.enabled ? "ok" : "off" }, k.enabled ? "enabled" : "disabled")),
        el("td", {}, url, k.previous_key_until ? el("small", {}, " (old key until " + when(k.previous_key_until) + ")") : null),
        el("td", {}, k.stats.total), el("td", {}, k.stats.accepted), el("td", {}, refused || "0"),
        el("td", {}, when(k.stats.last_used)), el("td", {}, k.changed_by || "—"), actions);
    });
    fill(document.querySelector("#keys tbody"), rows, "No keys yet.", 10);
  }
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "confirm") return;
    const id = dialog.dataset.key;
    const grace = document.getElementById("grace").value;
    act(() => api("POST", "/keys/" + id + "/regenerate", grace ? { grace } : {}), "Key " + id + " regenerated.");
  });
  document.getElementById("new-key").addEventListener("click", () =>
    act(() => api("POST", "/keys", { route }), "New key created."));
  await load();
};

pages.events = async () => {
  const form = document.getElementById("event-filters");
  const tbody = document.querySelector("#events tbody");
  const detail = document.getElementById("event-detail");
  let newest = 0;
  let timer = null;
  function query(extra) {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
    for (const [k, v] of Object.entries(extra || {})) params.set(k, v);
    return "/events?" + params.toString();
  }
  function row(e) {
    const show = button("Show", "show-event", { event: e.id }, async () => {
      detail.hidden = false;
      const dl = el("dl");
      for (const [k, v] of Object.entries(e)) dl.append(el("dt", {}, k), el("dd", {}, v === null ? "—" : v));
      const parts = [el("h2", {}, "Event " + e.id), dl];
      if (e.captured) {
        try {
          const full = await api("GET", "/events/" + e.id);
          const c = full.capture || {};
          const headers = el("dl");
          for (const [name, value] of c.headers || []) headers.append(el("dt", {}, name), el("dd", {}, value));
          parts.push(el("h3", {}, "Captured request"), el("p", {}, (c.method || "") + " " + (c.path || "") + (c.error ? " · " + c.error : "")),
            headers, el("h3", {}, "Body (" + (c.body_bytes || 0) + " bytes)"), el("pre", {}, c.body || ""));
        } catch (err) { parts.push(el("p", { className: "error" }, err.message)); }
      }
      detail.replaceChildren(...parts);
      detail.focus();
    }, true);
    return el("tr", { dataset: { event: e.id, outcome: e.outcome, reason: e.reason || "" } },
      el("td", {}, when(e.ts)), el("td", {}, e.route), el("td", { className: e.outcome }, e.outcome),
      el("td", {}, e.reason || "—"), el("td", {}, e.status || "—"), el("td", {}, e.duration_ms.toFixed(1) + " ms"),
      el("td", {}, e.client_ip || "—"), el("td", {}, e.delivery_id || "—"), el("td", {}, show));
  }
  async function load() {
    try {
      const data = await api("GET", query());
      newest = data.items.length ? data.items[0].id : newest;
      fill(tbody, data.items.map(row), "No events match.", 9);
      status(data.items.length + " events shown, " + data.kept + " kept.");
    } catch (err) { status(err.message, true); }
  }
  async function tail() {
    try {
      const data = await api("GET", query({ after: newest }));
      if (data.items.length) {
        newest = data.items[0].id;
        if (tbody.querySelector("td[colspan]")) tbody.replaceChildren();
        tbody.prepend(...data.items.map(row));
      }
    } catch (err) { status(err.message, true); }
  }
  detail.tabIndex = -1;
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.getElementById("live-tail").addEventListener("change", (e) => {
    if (timer) clearInterval(timer);
    timer = e.target.checked ? setInterval(tail, 2000) : null;
  });
  await load();
};

pages.dlq = async () => {
  const form = document.getElementById("dlq-filters");
  const detail = document.getElementById("dead-letter-detail");
  detail.tabIndex = -1;
  function filters() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
    return params.toString();
  }
  async function act(fn, done) {
    try { await fn(); status(done); await load(); } catch (err) { status(err.message, true); }
  }
  async function inspect(id) {
    const m = await api("GET", "/dlq/" + encodeURIComponent(id));
    const attempts = el("ol");
    for (const a of m.attempt_history || []) attempts.append(el("li", {}, when(a.at) + " · " + a.duration_ms + " ms · " + JSON.stringify(a.outcome)));
    const headers = el("dl");
    for (const [name, value] of m.headers || []) headers.append(el("dt", {}, name), el("dd", {}, value));
    detail.hidden = false;
    detail.replaceChildren(el("h2", {}, "Dead letter " + m.id),
      el("p", {}, m.method + " " + m.target + " · " + m.body_bytes + " bytes · " + (m.detail || m.reason)),
      el("h3", {}, "Attempts"), attempts, el("h3", {}, "Headers"), headers);
    detail.focus();
  }
  async function load() {
    try {
      const data = await api("GET", "/dlq?" + filters());
      const rows = data.items.map((m) => el("tr", { dataset: { id: m.id } },
        el("th", { scope: "row" }, el("code", {}, m.id)), el("td", {}, m.route), el("td", {}, m.reason),
        el("td", {}, m.attempts), el("td", {}, m.last_status || "—"), el("td", {}, when(m.received_at)),
        el("td", { className: "actions" },
          button("Inspect", "inspect", { id: m.id }, () => inspect(m.id).catch((e) => status(e.message, true)), true),
          button("Retry", "retry", { id: m.id }, () => act(() => api("POST", "/dlq/" + m.id + "/retry"), "Dead letter " + m.id + " queued again.")),
          button("Delete", "delete", { id: m.id }, () => {
            if (window.confirm("Delete dead letter " + m.id + "?")) act(() => api("DELETE", "/dlq/" + m.id), "Dead letter " + m.id + " deleted.");
          }, true))));
      fill(document.querySelector("#dead-letters tbody"), rows, "No dead letters.", 7);
    } catch (err) {
      fill(document.querySelector("#dead-letters tbody"), [], err.message, 7);
    }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.getElementById("retry-all").addEventListener("click", () => {
    if (window.confirm("Retry every dead letter matching the filters?")) {
      act(async () => { const r = await api("POST", "/dlq/retry?" + filters()); status(r.retried + " queued again."); }, "");
    }
  });
  await load();
};

pages.secrets = async () => {
  const box = document.getElementById("secrets");
  const routes = await api("GET", "/routes");
  const sections = [];
  for (const r of routes.items) {
    const s = await api("GET", "/routes/" + encodeURIComponent(r.id) + "/secrets");
    const rows = (s.secrets || []).map((x) => el("tr", {},
      el("th", { scope: "row" }, x.id), el("td", {}, x.position === 0 ? "primary" : "next"), el("td", {}, x.matches),
      el("td", {}, when(x.last_match)), el("td", {}, x.age_seconds != null ? Math.round(x.age_seconds / 86400) + " days" : "—"),
      el("td", { className: x.too_old ? "off" : "" }, x.too_old ? "older than max_age" : "ok")));
    const table = el("table", {}, el("thead", {}, el("tr", {}, ...["Secret", "Role", "Matches", "Last match", "Age", "Age check"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows));
    const refresh = button("Refresh now", "refresh", { route: r.id }, async () => {
      try { await api("POST", "/routes/" + encodeURIComponent(r.id) + "/secrets/refresh"); status("Secrets of " + r.id + " are being fetched again."); }
      catch (err) { status(err.message, true); }
    }, true);
    sections.push(el("section", { className: "card", "aria-label": "Secrets of " + r.id },
      el("h2", {}, r.id),
      el("p", {}, "Source ", el("strong", {}, s.source || "—"), " · ", s.source_state || "not loaded",
        " · fetched ", when(s.fetched_at), s.stale ? " · stale" : "", " · last matched: ", s.last_matched_secret || "—"),
      table, refresh));
  }
  box.replaceChildren(...sections);
};

pages.test = async () => {
  const form = document.getElementById("test-form");
  const select = document.getElementById("t-route");
  const result = document.getElementById("test-result");
  const routes = await api("GET", "/routes");
  select.replaceChildren(...routes.items.map((r) => el("option", { value: r.id }, r.id)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = document.getElementById("t-body").value;
    status("Sending…");
    try {
      const r = await api("POST", "/routes/" + encodeURIComponent(select.value) + "/test", body ? { body } : {});
      const list = el("ol", { id: "test-stages" });
      for (const s of r.stages || []) list.append(el("li", { dataset: { stage: s.stage } }, el("strong", {}, s.stage), ": ", s.decision));
      result.hidden = false;
      result.replaceChildren(el("h2", {}, "Answered " + r.response.status),
        el("p", {}, r.request.method + " " + r.request.url + " · delivery id " + r.request.delivery_id),
        list, el("h3", {}, "Response body"), el("pre", {}, r.response.body));
      status("");
    } catch (err) { status(err.message, true); }
  });
};

pages.audit = async () => {
  const data = await api("GET", "/audit?limit=200");
  const rows = data.items.map((a) => el("tr", { dataset: { action: a.action } },
    el("td", {}, when(a.at_ms)), el("td", {}, a.token_id), el("th", { scope: "row" }, a.action),
    el("td", {}, el("code", {}, JSON.stringify(a.detail)))));
  fill(document.querySelector("#audit tbody"), rows, "Nothing yet.", 4);
};

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page !== "login" && !token()) { location.assign("/ui/login"); return; }
  const signOut = document.getElementById("sign-out");
  if (signOut) signOut.addEventListener("click", () => { sessionStorage.removeItem(TOKEN); location.assign("/ui/login"); });
  const run = pages[page];
  if (run) {
    Promise.resolve(run()).then(() => { document.body.dataset.ready = "true"; })
      .catch((err) => status(err.message, true));
  }
});
