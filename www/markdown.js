// Markdown for answers: Debian's markdown-it (raw HTML off, links limited to http(s) and
// mailto, images off), fenced code highlighted by Debian's highlight.js, and the resulting HTML
// passed through DOMPurify with a short allowlist before it becomes DOM nodes. Any one of the
// three alone would keep a hostile message as text; together they are defence in depth.
import DOMPurify from "/vendor/purify.js";
import { el } from "./dom.js";
import { copyButton } from "./copy.js";
import { report } from "./errors.js";

// The pipe's artifact marker lines ([<20-char id>]: #) are bookkeeping, not text.
const markerLine = /^\[[0-9A-HJKMNP-TV-Z]{20}\]: #$/;
const safeLink = /^(?:https?:|mailto:)/i;
const allowedTags = ["p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre", "blockquote",
  "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span"];

let md = null;

function parser() {
  if (md) return md;
  if (!window.markdownit || !window.hljs) return null;
  // highlight.js 9 logs an end-of-life notice on first use; Debian still carries its security fixes.
  window.hljs.configure({ hideUpgradeWarningAcceptNoSupportOrSecurityUpdates: true });
  md = window.markdownit({ html: false, linkify: false, typographer: false, highlight });
  md.validateLink = (url) => safeLink.test(url.trim());
  md.disable("image");  // remote images would break the CSP (img-src 'self') and can track the reader
  return md;
}

// Only a language the author named is highlighted: guessing costs time on long answers.
function highlight(code, lang) {
  const name = (lang || "").trim().toLowerCase();
  if (!name || !window.hljs.getLanguage(name)) return "";
  return window.hljs.highlight(name, code, true).value;
}

let warned = false;

export function render(text) {
  const source = String(text).split("\n").filter((l) => !markerLine.test(l)).join("\n");
  const markdown = parser();
  if (!markdown) {
    if (!warned) { warned = true; report(new Error("The Markdown libraries did not load, so answers show as plain text.")); }
    const fragment = document.createDocumentFragment();
    fragment.append(el("p", source, { class: "plain" }));
    return fragment;
  }
  const tokens = markdown.parse(source, {});
  alignByClass(tokens);
  const html = markdown.renderer.render(tokens, markdown.options, {});
  const fragment = DOMPurify.sanitize(html, {
    ALLOWED_TAGS: allowedTags, ALLOWED_ATTR: ["href", "title", "class", "start"], ALLOWED_URI_REGEXP: safeLink,
    RETURN_DOM_FRAGMENT: true,
  });
  for (const a of fragment.querySelectorAll("a")) {
    a.rel = "noopener noreferrer";
    a.target = "_blank";
  }
  for (const pre of fragment.querySelectorAll("pre")) decorateCode(pre);
  return fragment;
}

// Table cells come aligned with a style attribute, which the CSP (style-src 'self') refuses;
// a class does the same from the stylesheet.
function alignByClass(tokens) {
  for (const token of tokens) {
    if ((token.type !== "th_open" && token.type !== "td_open") || !token.attrs) continue;
    const style = token.attrGet("style") || "";
    token.attrs = null;
    const align = style.match(/text-align:(left|right|center)/);
    if (align) token.attrSet("class", "align-" + align[1]);
  }
}

// A code block gets a bar with its language and a Copy button.
function decorateCode(pre) {
  const code = pre.querySelector("code");
  const lang = ((code && code.className.match(/language-([\w+#.-]+)/)) || [])[1] || "code";
  const box = el("div", null, { class: "code-block" });
  const bar = el("div", null, { class: "code-bar" });
  bar.append(el("span", lang, { class: "code-lang" }), copyButton("Copy code", () => (code || pre).textContent, `Copy code (${lang})`));
  pre.replaceWith(box);
  box.append(bar, pre);
  pre.tabIndex = 0;  // a wide block scrolls sideways: the keyboard needs to reach it
}
