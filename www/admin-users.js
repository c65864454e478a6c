// Users (add with a one-time password, enable and disable) and the admin's own API tokens.
import { api } from "./api.js";
import { $, el, button, on } from "./dom.js";
import { report } from "./errors.js";

export async function loadUsers() {
  const [{ users }, { tokens }] = await Promise.all([api("GET", "/admin/users"), api("GET", "/tokens")]);
  const list = $("users-list");
  list.replaceChildren();
  for (const u of users) {
    const li = el("li", `${u.email} · ${u.role}${u.disabled ? " · disabled" : ""} `);
    const toggle = button(u.disabled ? "Enable" : "Disable", { "aria-label": `${u.disabled ? "Enable" : "Disable"} ${u.email}` });
    on(toggle, "click", async () => {
      await api("PATCH", `/admin/users/${u.id}`, { disabled: !u.disabled });
      await loadUsers();
    });
    li.append(toggle);
    list.append(li);
  }
  const tl = $("tokens-list");
  tl.replaceChildren();
  for (const t of tokens) {
    const li = el("li", `${t.name} · ${t.prefix}… `);
    const revoke = button("Revoke", { class: "danger", "aria-label": `Revoke token ${t.name}` });
    on(revoke, "click", async () => { await api("DELETE", `/tokens/${t.id}`); await loadUsers(); });
    li.append(revoke);
    tl.append(li);
  }
}

export function initUsers() {
  on($("user-form"), "submit", async (event) => {
    event.preventDefault();
    try {
      const r = await api("POST", "/admin/users", { email: $("user-email").value, role: $("user-role").value });
      $("user-result").textContent = `Created ${r.user.email}. One-time password: ${r.password}`;
      $("user-form").reset();
    } catch (e) {
      report(e, { into: $("user-result") });
      return;
    }
    await loadUsers();
  });
  on($("token-form"), "submit", async (event) => {
    event.preventDefault();
    const r = await api("POST", "/tokens", { name: $("token-name").value });
    const out = $("token-result");
    out.textContent = `New token (shown once, copy it now): ${r.token}`;
    out.hidden = false;
    $("token-form").reset();
    await loadUsers();
  });
}
