// DOM helpers, and `on`: the one way the UI listens to events. A listener that throws or
// rejects is never silent: its failure goes to report() (errors.js), the one place that shows
// errors to the person.
import { report } from "./errors.js";

export const $ = (id) => document.getElementById(id);

// An element with text set as textContent (never HTML) and plain attributes.
export function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

export function on(target, type, handler, options) {
  target.addEventListener(type, (event) => {
    try {
      const result = handler(event);
      if (result && typeof result.then === "function") result.catch((e) => report(e));
    } catch (e) {
      report(e);
    }
  }, options);
}

// Tells screen readers what just happened (a visually hidden status region).
export function announce(text) {
  const region = $("sr-status");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);  // a change, even for the same words twice
}

// A button with a visible label and, when given, a longer accessible name.
export function button(text, attrs = {}) {
  return el("button", text, { type: "button", ...attrs });
}
