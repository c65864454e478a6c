"""What the browser tests do on the page: sign in, type, send, read answers, check contrast."""
import json
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import wait_for


def login(browser, stack, email="admin@example.com", password="browser-password-123"):
    browser.get(stack.url)
    wait_for(lambda: browser.find_element(By.ID, "login-view").is_displayed(), what="login form")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
    wait_for(lambda: browser.find_element(By.ID, "chat-view").is_displayed(), what="chat view")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#model option")) > 0, what="models")


def answers(browser):
    return browser.find_elements(By.CSS_SELECTOR, "#messages li.assistant")


def last_answer(browser):
    return answers(browser)[-1]


def type_text(browser, text):
    """Puts text (newlines too) in the message box as typing would, without pressing Enter."""
    box = browser.find_element(By.ID, "prompt")
    browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))", box, text)
    return box


def send(browser, text):
    """Types the message and presses Enter; returns once its answer bubble is there."""
    before = len(answers(browser))
    type_text(browser, text).send_keys(Keys.ENTER)
    wait_for(lambda: len(answers(browser)) > before, what="answer bubble")


def finished(browser):
    return wait_for(lambda: last_answer(browser).get_attribute("data-complete") == "true" and last_answer(browser),
                    what="the answer to end")


def body_text(answer):
    return answer.find_element(By.CSS_SELECTOR, ".body").text


def mock_get(mock, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (mock.port, path)) as r:
        return json.loads(r.read())


# WCAG contrast of every visible piece of text on the page against the background it is drawn on
# (semi-transparent backgrounds blended). Returns the failures: AA is 4.5:1, 3:1 for large text.
CONTRAST_JS = """
const rgba = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
  const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let colour = [255, 255, 255, 1];
  for (const layer of layers.reverse()) colour = over(layer, colour);
  return colour;
}
function seen(el) {
  for (let e = el; e; e = e.parentElement) {
    const s = getComputedStyle(e);
    if (s.display === "none" || s.visibility === "hidden" || Number(s.opacity) === 0) return false;
  }
  return el.getClientRects().length > 0;
}
const failures = [];
for (const el of document.querySelectorAll("body *")) {
  if (el.disabled || !seen(el)) continue;
  const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
  if (!text) continue;
  const s = getComputedStyle(el);
  const fg = over(rgba(s.color), background(el));
  const bg = background(el);
  const [a, b] = [lum(fg), lum(bg)];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < need) failures.push(`${el.tagName.toLowerCase()}.${el.className} "${text.slice(0, 30)}": ${ratio.toFixed(2)}`);
}
return failures;
"""


def contrast_failures(browser):
    return browser.execute_script(CONTRAST_JS)


def open_newest_chat(browser):
    """After a reload: waits for the chat list, then opens the chat used last."""
    wait_for(lambda: browser.find_element(By.ID, "chat-view").is_displayed(), what="chat view")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#chat-list button.open"), what="the chat list")[0].click()


# Every visible control must have a name a screen reader can read: its text, a label, or aria-label.
UNLABELLED_JS = """
const nameOf = (el) => (el.getAttribute("aria-label") || "").trim()
  || (el.labels && [...el.labels].map((l) => l.textContent).join("").trim())
  || (el.getAttribute("aria-labelledby") ? document.getElementById(el.getAttribute("aria-labelledby")).textContent.trim() : "")
  || (el.tagName === "BUTTON" || el.tagName === "A" ? el.textContent.trim() : "") || (el.getAttribute("title") || "").trim();
return [...document.querySelectorAll("button, a[href], input:not([type=hidden]), select, textarea")]
  .filter((el) => el.getClientRects().length && !nameOf(el)).map((el) => el.outerHTML.slice(0, 80));
"""


def unlabelled_controls(browser):
    return browser.execute_script(UNLABELLED_JS)
