// The admin view (admins only): tabs, and the status page. Each other tab has its own module.
import { api } from "./api.js";
import { $, el, on } from "./dom.js";
import { loadConnections, initConnections } from "./admin-connections.js";
import { loadUsers, initUsers } from "./admin-users.js";
import { loadValves, initConfig } from "./admin-config.js";
import { loadAudit } from "./admin-audit.js";
import { loadGroups, initGroups } from "./admin-groups.js";
import { loadAdminUsage } from "./usage.js";

const loaders = {
  status: loadStatus, connections: loadConnections, users: loadUsers, groups: loadGroups, usage: loadAdminUsage,
  config: async () => {}, pipe: loadValves, audit: loadAudit,
};

export async function openTab(name) {
  for (const b of document.querySelectorAll("[data-tab]")) {
    if (b.dataset.tab === name) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${name}`;
  await loaders[name]();
}

export function initAdmin() {
  for (const b of document.querySelectorAll("[data-tab]")) on(b, "click", () => openTab(b.dataset.tab));
  initConnections();
  initUsers();
  initGroups();
  initConfig();
}

async function loadStatus() {
  const s = await api("GET", "/admin/status");
  const rows = [
    ["Version", s.version],
    ["Provider keys stored",
      s.secrets_storage === "memory" ? "in memory only (lost on restart; set CONFIG_ENCRYPTION_KEY)" : "encrypted at rest"],
    ["Encryption key id", s.encryption.key_id || "none"],
    ["Chat transcripts", s.encryption.transcripts],
    ["Redis", `${s.redis.status}${s.redis.degraded ? " (degraded: working from SQLite)" : ""}`],
    ["SQLite", `${s.sqlite.status}, ${s.sqlite.journal_mode}, schema ${s.sqlite.schema_version}`],
  ];
  const dl = $("status-list");
  dl.replaceChildren();
  for (const [k, v] of rows) dl.append(el("dt", k), el("dd", v));
}
