// A safe Markdown subset: fenced code blocks, bullet and numbered lists, paragraphs, **bold**,
// *emphasis*, `code` and [links](https://…). It builds DOM nodes and sets only textContent, so
// no input can ever become HTML. Links are http(s) only and open with rel=noopener.

const markerLine = /^\[[0-9A-HJKMNP-TV-Z]{20}\]: #$/;

export function render(text) {
  const root = document.createDocumentFragment();
  const lines = String(text).split("\n").filter((l) => !markerLine.test(l));
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      i++;
      while (i < lines.length && !lines[i].startsWith("```")) code.push(lines[i++]);
      i++;
      const pre = document.createElement("pre");
      const c = document.createElement("code");
      c.textContent = code.join("\n");
      pre.append(c);
      root.append(pre);
      continue;
    }
    const bullet = /^\s*[-*] (.*)$/;
    const numbered = /^\s*\d+[.)] (.*)$/;
    if (bullet.test(line) || numbered.test(line)) {
      const ordered = numbered.test(line);
      const list = document.createElement(ordered ? "ol" : "ul");
      const pattern = ordered ? numbered : bullet;
      while (i < lines.length && pattern.test(lines[i])) {
        const li = document.createElement("li");
        inline(li, lines[i].match(pattern)[1]);
        list.append(li);
        i++;
      }
      root.append(list);
      continue;
    }
    if (line.trim() === "") { i++; continue; }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() !== "" && !lines[i].startsWith("```") && !bullet.test(lines[i]) && !numbered.test(lines[i])) {
      paragraph.push(lines[i++]);
    }
    const p = document.createElement("p");
    inline(p, paragraph.join("\n"));
    root.append(p);
  }
  return root;
}

function inline(parent, text) {
  const pattern = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*]+\*)|(\[[^\]]+\]\([^)\s]+\))/;
  let rest = text;
  while (rest.length) {
    const m = rest.match(pattern);
    if (!m) { parent.append(document.createTextNode(rest)); return; }
    if (m.index > 0) parent.append(document.createTextNode(rest.slice(0, m.index)));
    const token = m[0];
    if (token.startsWith("`")) {
      const c = document.createElement("code"); c.textContent = token.slice(1, -1); parent.append(c);
    } else if (token.startsWith("**")) {
      const b = document.createElement("strong"); b.textContent = token.slice(2, -2); parent.append(b);
    } else if (token.startsWith("*")) {
      const e = document.createElement("em"); e.textContent = token.slice(1, -1); parent.append(e);
    } else {
      const label = token.slice(1, token.indexOf("]("));
      const href = token.slice(token.indexOf("](") + 2, -1);
      if (/^https?:\/\//i.test(href)) {
        const a = document.createElement("a");
        a.textContent = label;
        a.href = href;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        parent.append(a);
      } else {
        parent.append(document.createTextNode(token));  // javascript:, data: and the like stay text
      }
    }
    rest = rest.slice(m.index + token.length);
  }
}
