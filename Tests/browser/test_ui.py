import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import wait_for
from pages import unlabelled_controls, open_newest_chat, login, send, last_answer, finished, body_text


def csp_violations(browser):
    return browser.console.csp_violations()


def test_login_chat_streams_and_logout(browser, stack):
    login(browser, stack)
    send(browser, "Hello from the browser")
    # The mock sends 4 words 0.3 s apart: the answer must be seen growing before it is complete.
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#messages li.assistant"), what="answer bubble")
    seen = set()
    deadline = time.time() + 10
    while time.time() < deadline:
        answer = last_answer(browser)
        seen.add(answer.find_element(By.CSS_SELECTOR, ".body").text)
        if answer.get_attribute("data-complete") == "true":
            break
        time.sleep(0.05)
    final = last_answer(browser).find_element(By.CSS_SELECTOR, ".body").text
    assert final == "Mock answer to: Hello from the browser"
    partial = [t for t in seen if t and t != final]
    assert len(partial) >= 2, "answer arrived in one piece: %r" % seen
    assert "Hello from the browser" in browser.find_element(By.ID, "chat-list").text
    browser.snap()
    browser.find_element(By.ID, "logout").click()
    wait_for(lambda: browser.find_element(By.ID, "login-view").is_displayed(), what="login after logout")
    browser.get(stack.url)
    wait_for(lambda: browser.find_element(By.ID, "login-view").is_displayed(), what="still logged out after reload")
    assert csp_violations(browser) == []


def test_hostile_message_renders_as_text(browser, stack):
    login(browser, stack)
    hostile = ("<img src=x onerror=alert(1)> and [click me](javascript:alert(2)) and [ok](https://example.com)\n\n"
               "<script>alert(3)</script> <svg onload=alert(4)> ![pic](https://example.com/t.png) [d](data:text/html,x)")
    send(browser, hostile)
    finished(browser)
    messages = browser.find_element(By.ID, "messages")
    assert messages.find_elements(By.CSS_SELECTOR, "script, svg, iframe, object, [onload], [onerror]") == []
    assert "<script>alert(3)</script>" in body_text(last_answer(browser))
    assert "<img src=x onerror=alert(1)>" in messages.text
    assert messages.find_elements(By.TAG_NAME, "img") == []
    hrefs = [a.get_attribute("href") for a in messages.find_elements(By.TAG_NAME, "a")]
    assert hrefs and all(h.startswith("https://") for h in hrefs), hrefs
    assert all(a.get_attribute("rel") == "noopener noreferrer" for a in messages.find_elements(By.TAG_NAME, "a"))
    assert "[click me](javascript:alert(2))" in messages.text
    browser.get(stack.url)  # reload: the stored message renders the same way
    open_newest_chat(browser)
    wait_for(lambda: "<img src=x" in browser.find_element(By.ID, "messages").text, what="reloaded chat")
    assert browser.find_element(By.ID, "messages").find_elements(By.TAG_NAME, "img") == []
    browser.snap()
    assert csp_violations(browser) == []


def search(browser, text):
    q = browser.find_element(By.ID, "search-q")
    q.clear()
    q.send_keys(text + Keys.ENTER)
    return wait_for(lambda: browser.find_element(By.ID, "search-results").is_displayed() and browser.find_element(By.ID, "search-results"),
                    what="search results")


def test_search_on_server_in_plaintext_mode(browser, stack):
    login(browser, stack)
    send(browser, "the violet umbrella")
    wait_for(lambda: last_answer(browser).get_attribute("data-complete") == "true", what="answer")
    results = search(browser, "umbrella")
    assert "the violet umbrella" in results.text
    assert not browser.find_element(By.ID, "search-note").is_displayed()


def test_search_in_the_browser_in_encrypted_mode(browser, encrypted_stack):
    login(browser, encrypted_stack)
    send(browser, "the crimson teapot")
    wait_for(lambda: last_answer(browser).get_attribute("data-complete") == "true", what="answer")
    browser.console.allowed.append(("/api/v1/chats/search", "status of 409"))  # the answer that says: search here
    results = search(browser, "teapot")
    note = browser.find_element(By.ID, "search-note")
    assert note.is_displayed() and "in your browser" in note.text
    assert "the crimson teapot" in results.text


def open_admin(browser, tab):
    browser.find_element(By.ID, "nav-admin").click()
    wait_for(lambda: browser.find_element(By.ID, "admin-view").is_displayed(), what="admin view")
    assert not browser.find_element(By.ID, "chat-view").is_displayed()
    browser.find_element(By.CSS_SELECTOR, "[data-tab='%s']" % tab).click()
    wait_for(lambda: browser.find_element(By.ID, "tab-" + tab).is_displayed(), what=tab)


def test_connections_show_only_fingerprints_and_refusals(browser, stack, mock):
    login(browser, stack)
    open_admin(browser, "connections")
    key = "sk-proj-BROWSERPLANTED0123456789zyxw"
    browser.find_element(By.ID, "conn-name").send_keys("planted")
    browser.find_element(By.ID, "conn-base").send_keys(mock.base)
    browser.find_element(By.ID, "conn-key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "#connection-form button[type=submit]").click()
    wait_for(lambda: "planted" in browser.find_element(By.ID, "connections-table").text, what="new connection")
    table = browser.find_element(By.ID, "connections-table").text
    assert "sk-proj-…zyxw" in table
    assert "BROWSERPLANTED" not in browser.page_source
    browser.console.allowed.append(("/api/v1/admin/connections", "status of 400"))  # the refusal this test asks for
    browser.find_element(By.ID, "conn-name").send_keys("evil")
    browser.find_element(By.ID, "conn-base").send_keys("https://evil.example.com/v1")
    browser.find_element(By.ID, "conn-key").send_keys("sk-evil-0123456789abcdef")
    browser.find_element(By.CSS_SELECTOR, "#connection-form button[type=submit]").click()
    error = wait_for(lambda: browser.find_element(By.ID, "connection-error").text, what="refusal")
    assert "allowlist" in error and "base_url_not_allowed" in error
    assert unlabelled_controls(browser) == []
    browser.snap()
    open_admin(browser, "status")
    assert "encrypted at rest" in browser.find_element(By.ID, "status-list").text
    assert csp_violations(browser) == []


def test_import_dry_run_then_apply(browser, stack, mock):
    login(browser, stack)
    open_admin(browser, "config")
    doc = '{"connections": [{"name": "imported", "kind": "openai", "base_url": "%s", "api_key": "sk-imported-0123456789abcd"}]}' % mock.base
    area = browser.find_element(By.ID, "import-doc")
    area.send_keys(doc)
    browser.find_element(By.ID, "import-preview").click()
    result = wait_for(lambda: browser.find_element(By.ID, "import-result").text, what="dry run")
    assert result.startswith("Dry run: 1 to create")
    open_admin(browser, "connections")
    assert "imported" not in browser.find_element(By.ID, "connections-table").text
    open_admin(browser, "config")
    browser.find_element(By.ID, "import-preview").click()
    wait_for(lambda: browser.find_element(By.ID, "import-apply").is_enabled(), what="apply enabled")
    browser.find_element(By.ID, "import-apply").click()
    wait_for(lambda: browser.find_element(By.ID, "import-result").text.startswith("Applied"), what="applied")
    browser.snap()
    open_admin(browser, "connections")
    assert "imported" in browser.find_element(By.ID, "connections-table").text


def test_phone_width_is_usable(browser, stack):
    browser.set_window_size(390, 844)
    login(browser, stack)
    send(browser, "On a phone:\n```sh\necho a-long-line-that-must-scroll-inside-its-block-and-not-widen-the-page\n```")
    finished(browser)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    inner = browser.execute_script("return window.innerWidth")
    assert width <= inner, "page wider than the phone: %d > %d" % (width, inner)
    assert browser.find_element(By.ID, "prompt").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "#messages .code-block button.copy").is_displayed()
    browser.execute_script("arguments[0].scrollIntoView({block: 'end'})", last_answer(browser))
    browser.snap()


def test_pipe_valves_page_masks_secrets(browser, stack, mock):
    login(browser, stack)
    open_admin(browser, "pipe")
    wait_for(lambda: browser.find_elements(By.ID, "valve-API_KEY"), what="valves form")
    base = browser.find_element(By.ID, "valve-BASE_URL")
    base.clear()
    base.send_keys(mock.base)
    browser.find_element(By.ID, "valve-API_KEY").send_keys("sk-or-v1-BROWSERVALVE-0123456789")
    browser.find_element(By.CSS_SELECTOR, "#valves-form button[type=submit]").click()
    wait_for(lambda: browser.find_element(By.ID, "valves-result").text == "Saved.", what="saved")
    placeholder = wait_for(lambda: browser.find_element(By.ID, "valve-API_KEY").get_attribute("placeholder"), what="fingerprint")
    assert "sk-or-v1-…6789" in placeholder
    assert "BROWSERVALVE" not in browser.page_source
    browser.snap()
    browser.find_element(By.CSS_SELECTOR, "[data-tab='status']").click()
    assert csp_violations(browser) == []


def test_an_unfinished_answer_offers_retry_then_regenerate(browser, stack):
    login(browser, stack)
    browser.find_element(By.ID, "new-chat").click()
    send(browser, "please __cut__ this answer")
    cut = finished(browser)
    assert "incomplete" in cut.get_attribute("class")
    assert "stopped early" in cut.find_element(By.CSS_SELECTOR, ".error-box .error").text
    button = cut.find_element(By.CSS_SELECTOR, ".error-box button.retry")
    before = len(browser.find_elements(By.CSS_SELECTOR, "#messages li.assistant"))
    button.click()
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#messages li.assistant")) > before, what="a new answer")
    finished(browser)
    # Markdown: __cut__ is strong emphasis.
    assert body_text(last_answer(browser)) == "Mock answer to: please cut this answer"
    assert last_answer(browser).find_element(By.CSS_SELECTOR, ".body strong").text == "cut"
    # The cut answer keeps its mark and loses its Retry; the new, last answer offers Regenerate.
    assert "incomplete" in cut.get_attribute("class")
    assert not cut.find_elements(By.CSS_SELECTOR, "button.retry")
    assert last_answer(browser).find_elements(By.CSS_SELECTOR, "button.regenerate")
    browser.snap()
    # After a reload both answers are there, the cut one still marked.
    browser.refresh()
    open_newest_chat(browser)
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#messages li.assistant.incomplete")) == 1, what="the stored cut answer")


def test_audit_page_filters_and_every_event_is_reachable_by_keyboard(browser, stack):
    stack.api("POST", "/tokens", stack.token, {"name": "audit-browser-token"})
    login(browser, stack)
    open_admin(browser, "audit")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")) >= 3, what="audit rows")
    text = browser.find_element(By.ID, "audit-table").text
    assert "auth.login" in text and "token.create" in text and "connection.create" in text
    # A filter by action narrows the table to that action.
    browser.find_element(By.ID, "audit-action").send_keys("token.create")
    browser.find_element(By.CSS_SELECTOR, "#audit-filters button[type=submit]").click()
    # Non-empty too: while the table reloads it is empty, and "all rows match" would hold vacuously.
    wait_for(lambda: (rows := browser.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr"))
             and all("token.create" in r.text for r in rows), what="filtered rows")
    # Tab reaches every row's Details button; Enter opens the before/after view, Back returns focus.
    buttons = browser.find_elements(By.CSS_SELECTOR, "#audit-table tbody button")
    assert buttons
    browser.find_element(By.CSS_SELECTOR, "#audit-filters button[type=submit]").send_keys(Keys.TAB)
    reached = []
    for _ in range(len(buttons) + 4):
        active = browser.switch_to.active_element
        if active in buttons:
            reached.append(active)
        active.send_keys(Keys.TAB)
    assert len(set(b.id for b in reached)) == len(buttons)
    buttons[0].send_keys(Keys.ENTER)
    detail = wait_for(lambda: browser.find_element(By.ID, "audit-detail").is_displayed() and browser.find_element(By.ID, "audit-detail"),
                      what="detail view")
    assert "token.create" in detail.text and "prefix" in detail.text
    detail.find_element(By.TAG_NAME, "button").send_keys(Keys.ENTER)
    wait_for(lambda: browser.switch_to.active_element == buttons[0], what="focus back on the row")
    # An actor that is neither an email nor a type is refused with the server's reason, not shown as events.
    browser.console.allowed.append(("/api/v1/admin/audit", "status of 400"))
    browser.find_element(By.ID, "audit-actor").send_keys("not an actor")
    browser.find_element(By.CSS_SELECTOR, "#audit-filters button[type=submit]").click()
    wait_for(lambda: "invalid_field" in browser.find_element(By.ID, "audit-status").text, what="refusal")
    assert csp_violations(browser) == []
