// Search: the server's index in plaintext mode; in encrypted mode (409) the browser loads the
// person's chats and filters them itself, and says so.
import { api, ApiError } from "./api.js";
import { $, el, button, on } from "./dom.js";
import { state } from "./state.js";

export function initSearch(open) {
  on($("search-form"), "submit", async (event) => {
    event.preventDefault();
    const q = $("search-q").value.trim();
    const out = $("search-results");
    const note = $("search-note");
    out.replaceChildren();
    note.hidden = true;
    if (!q) { out.hidden = true; return; }
    let hits;
    try {
      const result = await api("GET", `/chats/search?q=${encodeURIComponent(q)}`);
      hits = result.results.map((r) => ({ id: r.chat.id, title: r.chat.title, snippet: r.snippet }));
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== "search_unavailable_encrypted") throw e;
      note.textContent = "Chats are encrypted on the server, so this search runs in your browser over your loaded chats.";
      note.hidden = false;
      hits = await searchHere(q);
    }
    for (const hit of hits) {
      const li = el("li");
      const b = button(hit.title || "Untitled chat", { class: "link" });
      on(b, "click", () => open(hit.id));
      li.append(b, el("div", hit.snippet, { class: "hint" }));
      out.append(li);
    }
    if (!hits.length) out.append(el("li", "No chat matches."));
    out.hidden = false;
  });
}

async function searchHere(q) {
  const needle = q.toLowerCase();
  const hits = [];
  for (const chat of state.chats) {
    const full = await api("GET", `/chats/${chat.id}`);
    const found = [full.title, ...full.messages.map((m) => m.content)].find((t) => (t || "").toLowerCase().includes(needle));
    if (found) hits.push({ id: chat.id, title: full.title, snippet: found.slice(0, 120) });
  }
  return hits;
}
