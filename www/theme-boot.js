// Runs before the first paint (a classic script in <head>): applies a theme the person chose
// earlier. Without one the stylesheet follows prefers-color-scheme. The theme is the only thing
// the UI keeps in localStorage.
try {
  const chosen = localStorage.getItem("theme");
  if (chosen === "light" || chosen === "dark") document.documentElement.dataset.theme = chosen;
} catch (e) {
  // Storage can be off (a privacy setting): the page then follows the system theme, which is fine.
}
