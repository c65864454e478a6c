// Minimal sign-in page: proves the static path, the session cookie and the CSRF header.
// No inline script anywhere, so the Content-Security-Policy can forbid it.
const api = "/api/v1";
let csrfToken = "";

async function call(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(api + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return data;
}

function show(view) {
  document.getElementById("login-view").hidden = view !== "login";
  document.getElementById("home-view").hidden = view !== "home";
}

async function showHome(user) {
  document.getElementById("who").textContent = user.email;
  document.getElementById("role").textContent = user.role;
  show("home");
  const box = document.getElementById("status");
  if (user.role !== "admin") { box.hidden = true; return; }
  const status = await call("GET", "/admin/status");
  const list = document.getElementById("status-list");
  list.replaceChildren();
  const rows = [
    ["Version", status.version],
    ["Secrets stored", status.secrets_storage],
    ["Transcripts", status.encryption.transcripts],
    ["Redis", status.redis.status],
    ["SQLite", `${status.sqlite.status} (${status.sqlite.journal_mode})`],
  ];
  for (const [term, value] of rows) {
    const dt = document.createElement("dt"); dt.textContent = term;
    const dd = document.createElement("dd"); dd.textContent = value;
    list.append(dt, dd);
  }
  box.hidden = false;
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  try {
    const result = await call("POST", "/auth/login", {
      email: document.getElementById("email").value,
      password: document.getElementById("password").value,
    });
    csrfToken = result.csrf_token;
    document.getElementById("password").value = "";
    await showHome(result.user);
  } catch (e) {
    error.textContent = e.message;
  }
});

document.getElementById("logout").addEventListener("click", async () => {
  try { await call("POST", "/auth/logout"); } finally { csrfToken = ""; show("login"); }
});

(async () => {
  try {
    const me = await call("GET", "/auth/me");
    csrfToken = me.csrf_token || "";
    await showHome(me.user);
  } catch {
    show("login");
  }
})();
