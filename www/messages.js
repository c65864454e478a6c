// One message in the conversation: who wrote it, its text (a person's as typed, an answer as
// Markdown), its status when it did not finish, and its actions (Copy; Regenerate on the last
// answer).
import { el, button, on } from "./dom.js";
import { render } from "./markdown.js";
import { copyButton } from "./copy.js";

// complete answers need no word; the others keep what arrived and say why it ended early.
const statusWords = {
  stopped: "stopped", incomplete: "incomplete", interrupted: "interrupted", streaming: "still arriving or cut off",
};

export function messageNode(message) {
  const li = el("li", null, { class: message.role });
  li.append(el("span", "", { class: "role" }));
  const body = el("div", null, { class: "body" });
  li.append(body, el("div", null, { class: "error-box", hidden: "" }), el("div", null, { class: "actions" }));
  li.content = message.content || "";
  setStatus(li, message.role === "assistant" ? message.status : null, message.model);
  fill(li, li.content);
  if (li.content) addCopy(li);
  return li;
}

export function fill(li, text) {
  li.content = text;
  const body = li.querySelector(".body");
  if (li.classList.contains("user")) body.textContent = text;  // a person's words are shown exactly as typed
  else body.replaceChildren(render(text));
}

export function setStatus(li, status, model) {
  const partial = status && status !== "complete" && status !== "thinking";
  li.classList.toggle("incomplete", Boolean(partial));
  li.classList.toggle("stopped", status === "stopped");
  const role = li.querySelector(".role");
  if (li.classList.contains("user")) { role.textContent = "You"; return; }
  if (model !== undefined) li.dataset.model = model || "";
  role.textContent = "Assistant" + (li.dataset.model ? " · " + li.dataset.model : "");
  if (partial) role.append(" ", el("span", statusWords[status] || status, { class: "badge" }));
}

export function showThinking(li) {
  li.classList.add("thinking");
  li.setAttribute("aria-busy", "true");
  li.querySelector(".body").replaceChildren(el("span", "Thinking", { class: "thinking-text" }));
}

export function addCopy(li) {
  const actions = li.querySelector(".actions");
  if (actions.querySelector("button.copy")) return;
  const who = li.classList.contains("user") ? "your message" : "this answer";
  actions.prepend(copyButton("Copy", () => li.content, `Copy ${who}`));
}

// Only the last answer offers Regenerate: it asks the same question again.
export function offerRegenerate(list, li, regenerate) {
  for (const old of list.querySelectorAll("button.regenerate")) old.remove();
  const b = button("Regenerate", { class: "regenerate", "aria-label": "Regenerate this answer" });
  on(b, "click", regenerate);
  li.querySelector(".actions").append(b);
}
