// CryoTensor's web UI: plain ES modules, no build step, no third-party code. Every action goes
// through the same API as curl (api.js); every piece of server or user text is set as
// textContent or rendered by the safe Markdown subset (markdown.js), never as HTML.
import { api, stream, setCsrf, ApiError } from "./api.js";
import { render } from "./markdown.js";
import { loadAudit } from "./audit.js";

const $ = (id) => document.getElementById(id);
const state = { user: null, chats: [], current: null, searchLocal: false };

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function flash(message) {
  const box = $("flash");
  box.textContent = message;
  box.hidden = !message;
}

function describeError(e) {
  if (e instanceof ApiError) {
    const first = e.problems && e.problems.length ? ` (${e.problems.map((p) => `${p.path}: ${p.code}`).join(", ")})` : "";
    return `${e.message} [${e.code}]${first}`;
  }
  return String(e.message || e);
}

// ---------------------------------------------------------------- views

function show(view) {
  for (const name of ["login", "chat", "admin"]) $(`${name}-view`).hidden = name !== view;
  $("nav").hidden = view === "login";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

async function route() {
  if (!state.user) { show("login"); return; }
  const view = location.hash === "#admin" && state.user.role === "admin" ? "admin" : "chat";
  show(view);
  if (view === "chat") await loadChatView(); else await openTab("status");
}

async function signedIn(user) {
  state.user = user;
  $("who").textContent = `${user.email} (${user.role})`;
  $("nav-admin").hidden = user.role !== "admin";
  await route();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const result = await api("POST", "/auth/login", { email: $("email").value, password: $("password").value });
    setCsrf(result.csrf_token);
    $("password").value = "";
    await signedIn(result.user);
  } catch (e) {
    $("login-error").textContent = describeError(e);
  }
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/auth/logout"); } catch { /* the session may already be gone */ }
  setCsrf("");
  state.user = null;
  state.current = null;
  $("messages").replaceChildren();
  flash("");
  show("login");
});

window.addEventListener("hashchange", () => { route().catch((e) => flash(describeError(e))); });

// ---------------------------------------------------------------- chat

async function loadChatView() {
  const [chats, models] = await Promise.all([api("GET", "/chats"), api("GET", "/models").catch(() => ({ data: [] }))]);
  state.chats = chats.chats;
  const select = $("model");
  const previous = select.value;
  select.replaceChildren();
  for (const m of models.data) select.append(el("option", m.id, { value: m.id }));
  if (previous) select.value = previous; else if (models.default_model) select.value = models.default_model;
  if (!models.data.length) flash("No models are available: an admin must add a connection.");
  renderChatList();
  if (state.current) await openChat(state.current); else renderConversation(null);
}

function renderChatList() {
  const list = $("chat-list");
  list.replaceChildren();
  for (const chat of state.chats) {
    const li = el("li");
    if (state.current === chat.id) li.className = "active";
    const b = el("button", chat.title || "Untitled chat", { type: "button", class: "link" });
    b.addEventListener("click", () => openChat(chat.id));
    li.append(b);
    list.append(li);
  }
}

function messageNode(message) {
  const li = el("li");
  // incomplete (the provider failed), stopped (by the user), interrupted (the service restarted
  // mid-answer), streaming (still arriving, or cut off a moment ago): all keep what arrived.
  const partial = message.status && message.status !== "complete";
  li.className = message.role + (partial ? " incomplete" : "");
  li.append(el("span", message.role === "user" ? "You" : `Assistant${message.model ? " · " + message.model : ""}${partial ? " · " + message.status : ""}`, { class: "role" }));
  const body = el("div", null, { class: "body" });
  body.append(render(message.content || ""));
  li.append(body);
  return li;
}

function renderConversation(chat) {
  const list = $("messages");
  list.replaceChildren();
  for (const id of ["chat-title", "rename-chat", "delete-chat"]) $(id).disabled = !chat;
  $("chat-title").value = chat ? chat.title : "";
  if (!chat) return;
  const messages = chat.messages || [];
  messages.forEach((m, i) => {
    const node = messageNode(m);
    list.append(node);
    const last = i === messages.length - 1;
    if (last && m.role === "assistant" && m.status !== "complete" && i > 0 && messages[i - 1].role === "user") {
      offerRegenerate(node, messages[i - 1].content);
    }
  });
}

async function openChat(id) {
  state.current = id;
  const chat = await api("GET", `/chats/${id}`);
  renderConversation(chat);
  renderChatList();
}

$("new-chat").addEventListener("click", async () => {
  const chat = await api("POST", "/chats", {});
  state.chats.unshift(chat);
  state.current = chat.id;
  renderChatList();
  renderConversation(chat);
  $("prompt").focus();
});

$("rename-chat").addEventListener("click", async () => {
  if (!state.current) return;
  await api("PATCH", `/chats/${state.current}`, { title: $("chat-title").value });
  await loadChatView();
});

$("delete-chat").addEventListener("click", async () => {
  if (!state.current || !confirm("Delete this chat?")) return;
  await api("DELETE", `/chats/${state.current}`);
  state.current = null;
  await loadChatView();
});

$("compose").addEventListener("submit", async (event) => {
  event.preventDefault();
  const content = $("prompt").value.trim();
  if (!content) return;
  $("prompt").value = "";
  await ask(content);
});

// A Regenerate control under an answer that did not finish (incomplete, stopped, interrupted):
// it asks the same question again; the unfinished answer stays, marked.
function offerRegenerate(answer, question) {
  if (!question || answer.querySelector("button.regenerate")) return;
  const button = el("button", "Regenerate", { type: "button", class: "regenerate" });
  button.addEventListener("click", () => { button.remove(); ask(question); });
  answer.append(button);
}

async function ask(content) {
  if (!state.current) {
    const chat = await api("POST", "/chats", {});
    state.current = chat.id;
  }
  const list = $("messages");
  list.append(messageNode({ role: "user", content }));
  const answer = messageNode({ role: "assistant", content: "", model: $("model").value });
  answer.setAttribute("aria-busy", "true");
  list.append(answer);
  const body = answer.querySelector(".body");
  let text = "";
  let ended = false;
  let finished = false;
  $("send").disabled = true;
  try {
    await stream(`/chats/${state.current}/messages`, { content, model: $("model").value, stream: true }, (event) => {
      if (event.type === "done" || event.type === "error") ended = true;
      if (event.type === "delta") {
        text += event.text;
        body.replaceChildren(render(text));
      } else if (event.type === "reasoning") {
        let r = answer.querySelector(".reasoning");
        if (!r) { r = el("p", "", { class: "reasoning" }); answer.insertBefore(r, body); }
        r.textContent += event.text;
      } else if (event.type === "done" && event.message) {
        body.replaceChildren(render(event.message.content));
        finished = event.message.status === "complete";
      } else if (event.type === "error") {
        answer.classList.add("incomplete");
        answer.append(el("p", `The answer stopped: ${event.error.message}`, { class: "error" }));
      }
    });
    if (!ended) {
      // The connection ended without the service saying so (it restarted, or the network broke).
      answer.classList.add("incomplete");
      answer.append(el("p", "The connection was lost before the answer finished. What arrived is saved; reload the chat to see it.", { class: "error" }));
    }
  } catch (e) {
    answer.append(el("p", describeError(e), { class: "error" }));
  } finally {
    answer.removeAttribute("aria-busy");
    answer.dataset.complete = "true";
    $("send").disabled = false;
  }
  if (!finished) offerRegenerate(answer, content);
  const chats = await api("GET", "/chats");
  state.chats = chats.chats;
  renderChatList();
}

// Search: the server's index in plaintext mode; in encrypted mode (409) the browser loads the
// user's chats and filters them itself, and says so.
$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("search-q").value.trim();
  const out = $("search-results");
  const note = $("search-note");
  out.replaceChildren();
  note.hidden = true;
  if (!q) { out.hidden = true; return; }
  let hits = [];
  try {
    const result = await api("GET", `/chats/search?q=${encodeURIComponent(q)}`);
    hits = result.results.map((r) => ({ id: r.chat.id, title: r.chat.title, snippet: r.snippet }));
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== "search_unavailable_encrypted") { flash(describeError(e)); return; }
    note.textContent = "Chats are encrypted on the server, so this search runs in your browser over your loaded chats.";
    note.hidden = false;
    const needle = q.toLowerCase();
    for (const chat of state.chats) {
      const full = await api("GET", `/chats/${chat.id}`);
      const found = [full.title, ...full.messages.map((m) => m.content)].find((t) => (t || "").toLowerCase().includes(needle));
      if (found) hits.push({ id: chat.id, title: full.title, snippet: found.slice(0, 120) });
    }
  }
  for (const hit of hits) {
    const li = el("li");
    const b = el("button", hit.title || "Untitled chat", { type: "button", class: "link" });
    b.addEventListener("click", () => openChat(hit.id));
    li.append(b, el("div", hit.snippet, { class: "hint" }));
    out.append(li);
  }
  if (!hits.length) out.append(el("li", "No chat matches."));
  out.hidden = false;
});

// ---------------------------------------------------------------- admin

for (const b of document.querySelectorAll("[data-tab]")) {
  b.addEventListener("click", () => openTab(b.dataset.tab).catch((e) => flash(describeError(e))));
}

async function openTab(name) {
  for (const b of document.querySelectorAll("[data-tab]")) {
    if (b.dataset.tab === name) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${name}`;
  const loaders = { status: loadStatus, connections: loadConnections, users: loadUsers, config: async () => {}, pipe: loadValves,
    audit: loadAudit };
  await loaders[name]();
}

async function loadStatus() {
  const s = await api("GET", "/admin/status");
  const rows = [
    ["Version", s.version],
    ["Provider keys stored", s.secrets_storage === "memory" ? "in memory only (lost on restart; set CONFIG_ENCRYPTION_KEY)" : "encrypted at rest"],
    ["Encryption key id", s.encryption.key_id || "none"],
    ["Chat transcripts", s.encryption.transcripts],
    ["Redis", `${s.redis.status}${s.redis.degraded ? " (degraded: working from SQLite)" : ""}`],
    ["SQLite", `${s.sqlite.status}, ${s.sqlite.journal_mode}, schema ${s.sqlite.schema_version}`],
  ];
  const dl = $("status-list");
  dl.replaceChildren();
  for (const [k, v] of rows) dl.append(el("dt", k), el("dd", v));
}

function keyText(key) {
  if (!key.set) return "no key";
  if (key.error) return `undecryptable (${key.storage})`;
  return `${key.fingerprint || "set (short key)"} · ${key.storage}`;
}

async function loadConnections() {
  const { connections } = await api("GET", "/admin/connections");
  const body = $("connections-table").querySelector("tbody");
  body.replaceChildren();
  for (const c of connections) {
    const tr = el("tr");
    tr.append(el("td", c.name), el("td", c.kind));
    const url = el("td"); url.append(el("code", c.base_url)); tr.append(url);
    tr.append(el("td", keyText(c.api_key), { "data-fingerprint": c.api_key.fingerprint || "" }));
    const actions = el("td");
    const edit = el("button", "Edit", { type: "button" });
    edit.addEventListener("click", () => editConnection(c));
    const del = el("button", "Delete", { type: "button", class: "danger" });
    del.addEventListener("click", async () => {
      if (!confirm(`Delete ${c.name}?`)) return;
      await api("DELETE", `/admin/connections/${c.id}`);
      await loadConnections();
    });
    actions.append(edit, del);
    tr.append(actions);
    body.append(tr);
  }
}

function editConnection(c) {
  $("connection-form-title").textContent = `Edit ${c.name}`;
  $("conn-id").value = c.id;
  $("conn-name").value = c.name;
  $("conn-kind").value = c.kind;
  $("conn-base").value = c.base_url;
  $("conn-version").value = c.api_version || "";
  $("conn-key").value = "";
  $("conn-clear").checked = false;
  $("conn-key-hint").textContent = "Saving needs the key again (it is never shown), or tick “Remove the stored key”.";
  $("conn-cancel").hidden = false;
  $("conn-name").focus();
}

function resetConnectionForm() {
  $("connection-form").reset();
  $("conn-id").value = "";
  $("connection-form-title").textContent = "Add a connection";
  $("conn-key-hint").textContent = "The key is never shown again: only its fingerprint.";
  $("conn-cancel").hidden = true;
}

$("conn-cancel").addEventListener("click", resetConnectionForm);

$("connection-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("connection-error").textContent = "";
  const body = { name: $("conn-name").value, kind: $("conn-kind").value, base_url: $("conn-base").value };
  if ($("conn-version").value) body.api_version = $("conn-version").value;
  if ($("conn-clear").checked) body.clear_api_key = true; else if ($("conn-key").value) body.api_key = $("conn-key").value;
  const id = $("conn-id").value;
  try {
    await api(id ? "PUT" : "POST", id ? `/admin/connections/${id}` : "/admin/connections", body);
    resetConnectionForm();
    await loadConnections();
  } catch (e) {
    $("connection-error").textContent = e.code === "base_url_not_allowed"
      ? `Refused: this base URL is not on the operator's allowlist (OPENAI_ALLOWED_API_BASE_URLS). ${e.message} [${e.code}]`
      : describeError(e);
  } finally {
    $("conn-key").value = "";
  }
});

async function loadUsers() {
  const [{ users }, { tokens }] = await Promise.all([api("GET", "/admin/users"), api("GET", "/tokens")]);
  const list = $("users-list");
  list.replaceChildren();
  for (const u of users) {
    const li = el("li", `${u.email} · ${u.role}${u.disabled ? " · disabled" : ""} `);
    const toggle = el("button", u.disabled ? "Enable" : "Disable", { type: "button" });
    toggle.addEventListener("click", async () => {
      try { await api("PATCH", `/admin/users/${u.id}`, { disabled: !u.disabled }); await loadUsers(); } catch (e) { flash(describeError(e)); }
    });
    li.append(toggle);
    list.append(li);
  }
  const tl = $("tokens-list");
  tl.replaceChildren();
  for (const t of tokens) {
    const li = el("li", `${t.name} · ${t.prefix}… `);
    const revoke = el("button", "Revoke", { type: "button", class: "danger" });
    revoke.addEventListener("click", async () => { await api("DELETE", `/tokens/${t.id}`); await loadUsers(); });
    li.append(revoke);
    tl.append(li);
  }
}

$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const r = await api("POST", "/admin/users", { email: $("user-email").value, role: $("user-role").value });
    $("user-result").textContent = `Created ${r.user.email}. One-time password: ${r.password}`;
    $("user-form").reset();
    await loadUsers();
  } catch (e) { $("user-result").textContent = describeError(e); }
});

$("token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const r = await api("POST", "/tokens", { name: $("token-name").value });
  const out = $("token-result");
  out.textContent = `New token (shown once, copy it now): ${r.token}`;
  out.hidden = false;
  $("token-form").reset();
  await loadUsers();
});

// Import: a dry run shows what would change and which secrets would be dropped; Apply sends the
// same document for real.
let pendingImport = null;
function importSummary(r) {
  const parts = [`${r.applied ? "Applied" : "Dry run"}: ${r.created} to create, ${r.updated} to update`];
  if (r.settings_changed) parts.push("settings change");
  if (r.dropped_secrets.length) parts.push(`secrets dropped (no encryption key on the server): ${r.dropped_secrets.join(", ")}`);
  return parts.join("; ") + ".";
}

$("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("import-result");
  out.replaceChildren();
  $("import-apply").disabled = true;
  let doc;
  try { doc = JSON.parse($("import-doc").value); } catch { out.textContent = "This is not valid JSON."; return; }
  try {
    const r = await api("POST", "/admin/config/import?dry_run=true", doc);
    out.textContent = importSummary(r);
    pendingImport = doc;
    $("import-apply").disabled = false;
  } catch (e) {
    out.textContent = `Nothing would be imported: ${describeError(e)}`;
    const ul = el("ul");
    for (const p of e.problems || []) ul.append(el("li", `${p.path}: ${p.message}`));
    out.append(ul);
  }
});

$("import-apply").addEventListener("click", async () => {
  if (!pendingImport) return;
  try {
    const r = await api("POST", "/admin/config/import", pendingImport);
    $("import-result").textContent = importSummary(r);
  } catch (e) { $("import-result").textContent = describeError(e); }
  pendingImport = null;
  $("import-apply").disabled = true;
});

async function loadValves() {
  const { valves } = await api("GET", "/admin/pipes/openrouter/valves");
  const form = $("valves-form");
  form.replaceChildren();
  for (const [name, value] of Object.entries(valves)) {
    const id = `valve-${name}`;
    form.append(el("label", name, { for: id }));
    let input;
    if (value !== null && typeof value === "object") {
      input = el("input", null, { id, type: "password", autocomplete: "off", "data-secret": "true",
        placeholder: value.set ? `set: ${value.fingerprint || "hidden"} (${value.storage})${value.error ? " — undecryptable, enter again" : ""}` : "not set" });
    } else if (typeof value === "boolean") {
      input = el("select", null, { id });
      for (const v of ["true", "false"]) input.append(el("option", v, { value: v }));
      input.value = String(value);
    } else {
      input = el("input", null, { id });
      input.value = String(value);
    }
    input.dataset.name = name;
    input.dataset.original = typeof value === "object" ? "" : String(value);
    form.append(input);
  }
  form.append(el("button", "Save valves", { type: "submit" }));
}

$("valves-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const valves = {};
  for (const input of $("valves-form").querySelectorAll("[data-name]")) {
    const v = input.value;
    if (input.dataset.secret) { if (v) valves[input.dataset.name] = v; continue; }
    if (v === input.dataset.original) continue;
    valves[input.dataset.name] = v === "true" ? true : v === "false" ? false : /^\d+$/.test(v) ? Number(v) : v;
  }
  try {
    await api("PUT", "/admin/pipes/openrouter/valves", { valves });
    $("valves-result").textContent = "Saved.";
    await loadValves();
  } catch (e) { $("valves-result").textContent = describeError(e); }
});

// ---------------------------------------------------------------- start

(async () => {
  try {
    const me = await api("GET", "/auth/me");
    setCsrf(me.csrf_token);
    await signedIn(me.user);
  } catch {
    show("login");
  }
})();
