// The light/dark toggle. With no stored choice the page follows prefers-color-scheme; a click
// stores the opposite of what is shown now (the only thing the UI keeps in localStorage).
import { $, on } from "./dom.js";

const key = "theme";
const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

function current() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen === "light" || chosen === "dark") return chosen;
  return systemDark.matches ? "dark" : "light";
}

// A toggle button with one name ("Dark theme") and aria-pressed, as screen readers expect.
function label() {
  $("theme-toggle").setAttribute("aria-pressed", String(current() === "dark"));
}

export function initTheme() {
  label();
  on(systemDark, "change", label);
  on($("theme-toggle"), "click", () => {
    const next = current() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem(key, next);
    label();
  });
}
