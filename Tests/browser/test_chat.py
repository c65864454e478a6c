"""The chat people use every day (issue 13): keys, Stop, Regenerate, Copy, Markdown, themes,
failures. Each test saves its screenshot (browser.snap) when the page shows what its name says."""
import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from conftest import wait_for
from pages import (open_newest_chat, login, send, type_text, answers, last_answer, finished, body_text, mock_get,
                   contrast_failures, unlabelled_controls)


def test_enter_sends_and_shift_enter_breaks_the_line(browser, stack):
    login(browser, stack)
    box = browser.find_element(By.ID, "prompt")
    one_line = box.size["height"]
    box.send_keys("first line")
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    box.send_keys("second line")
    assert box.get_attribute("value") == "first line\nsecond line"
    assert answers(browser) == [], "Shift+Enter must not send"
    assert box.size["height"] > one_line, "the box grows with its text"
    # Records whether the answer said "Thinking" before its first words (that moment is short here).
    browser.execute_script("""window.sawThinking = false;
        new MutationObserver(() => { if (document.querySelector('#messages li.thinking .thinking-text')) window.sawThinking = true; })
          .observe(document.getElementById('messages'), {childList: true, subtree: true});""")
    box.send_keys(Keys.ENTER)
    wait_for(lambda: answers(browser), what="the message to be sent")
    # While the answer is in flight the box is locked and Stop has the focus.
    assert not box.is_enabled()
    assert browser.find_element(By.ID, "stop").is_displayed()
    assert browser.switch_to.active_element.get_attribute("id") == "stop"
    finished(browser)
    assert browser.execute_script("return window.sawThinking")
    question = browser.find_elements(By.CSS_SELECTOR, "#messages li.user .body")[-1]
    assert question.text == "first line\nsecond line"
    assert box.is_enabled() and box.get_attribute("value") == ""
    wait_for(lambda: browser.switch_to.active_element.get_attribute("id") == "prompt", what="focus back in the box")
    browser.snap()


def test_stop_keeps_the_partial_answer_and_closes_the_provider_connection(browser, slow_stack, slow_mock):
    login(browser, slow_stack)
    before = mock_get(slow_mock, "/__aborted")["aborted"]
    send(browser, "Tell me a long story")
    wait_for(lambda: len(body_text(last_answer(browser)).split()) >= 4, what="a few words")
    browser.find_element(By.ID, "stop").click()
    answer = finished(browser)
    partial = body_text(answer)
    assert partial.startswith("Mock w1") and "w39" not in partial, partial
    assert "stopped" in answer.get_attribute("class")
    assert "stopped" in answer.find_element(By.CSS_SELECTOR, ".role").text
    wait_for(lambda: browser.switch_to.active_element.get_attribute("id") == "prompt", what="focus back in the box")
    # The service hung up on the provider: the mock saw its reader go away mid-answer.
    wait_for(lambda: mock_get(slow_mock, "/__aborted")["aborted"] > before, timeout=5, what="the provider connection to close")
    browser.snap()
    # What arrived is stored as stopped: a reload shows the same text and mark.
    browser.refresh()
    open_newest_chat(browser)
    stored = wait_for(lambda: answers(browser) and last_answer(browser), what="the stored answer")
    assert body_text(stored) == partial
    assert "stopped" in stored.find_element(By.CSS_SELECTOR, ".role").text


def test_regenerate_asks_again_and_keeps_the_first_answer(browser, stack):
    login(browser, stack)
    send(browser, "Say something twice")
    first = finished(browser)
    first.find_element(By.CSS_SELECTOR, "button.regenerate").click()
    wait_for(lambda: len(answers(browser)) == 2, what="a second answer")
    second = finished(browser)
    assert body_text(second) == "Mock answer to: Say something twice"
    assert body_text(first) == "Mock answer to: Say something twice"
    assert not first.find_elements(By.CSS_SELECTOR, "button.regenerate"), "only the last answer offers Regenerate"
    assert second.find_elements(By.CSS_SELECTOR, "button.regenerate")
    browser.snap()


def grant_clipboard(browser, stack):
    origin = stack.url.rstrip("/")
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": origin,
                                                          "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})


def read_clipboard(browser):
    return browser.execute_async_script("navigator.clipboard.readText().then(arguments[0], (e) => arguments[0]('ERR ' + e))")


def test_copy_a_code_block(browser, stack):
    login(browser, stack)
    grant_clipboard(browser, stack)
    send(browser, "Here is code:\n```python\nprint('copied from a block')\n```")
    answer = finished(browser)
    block = answer.find_element(By.CSS_SELECTOR, ".code-block")
    assert block.find_element(By.CSS_SELECTOR, ".code-lang").text == "python"
    assert block.find_elements(By.CSS_SELECTOR, "code span[class^='hljs-']"), "the code is highlighted"
    button = block.find_element(By.CSS_SELECTOR, "button.copy")
    assert button.get_attribute("aria-label") == "Copy code (python)"
    button.click()
    wait_for(lambda: button.text == "Copied", what="the copy confirmation")
    assert read_clipboard(browser) == "print('copied from a block')\n"
    browser.snap()
    # Every message has its own Copy, for the raw text.
    browser.find_elements(By.CSS_SELECTOR, "#messages li.user button.copy")[-1].click()
    wait_for(lambda: read_clipboard(browser).startswith("Here is code:\n```python"), what="the question copied")


def test_table_heading_and_markdown_render(browser, stack):
    login(browser, stack)
    send(browser, "Rendered:\n## A heading\n\n| name | size |\n|:--|--:|\n| alpha | 1 |\n| beta | 22 |\n\n"
                  "> quoted\n\n- one\n  - nested\n\nInline `code` and [a link](https://example.com).")
    answer = finished(browser)
    assert answer.find_element(By.CSS_SELECTOR, ".body h2").text == "A heading"
    table = answer.find_element(By.CSS_SELECTOR, ".body table")
    assert [th.text for th in table.find_elements(By.CSS_SELECTOR, "th")] == ["name", "size"]
    assert table.find_elements(By.CSS_SELECTOR, "td.align-right")
    assert answer.find_element(By.CSS_SELECTOR, ".body blockquote").text == "quoted"
    assert answer.find_element(By.CSS_SELECTOR, ".body ul ul li").text == "nested"
    assert answer.find_element(By.CSS_SELECTOR, ".body a").get_attribute("href") == "https://example.com/"
    assert contrast_failures(browser) == []
    browser.snap()


def test_dark_theme_follows_the_system_and_the_toggle_is_remembered(browser, stack):
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    login(browser, stack)
    send(browser, "Dark code:\n```js\nconst answer = 42; // the number\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    finished(browser)
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 18, 22)", background
    toggle = browser.find_element(By.ID, "theme-toggle")
    assert toggle.get_attribute("aria-pressed") == "true"
    assert contrast_failures(browser) == []
    browser.snap()
    # The toggle overrides the system and survives a reload; the theme is all that is stored.
    toggle.click()
    browser.refresh()
    wait_for(lambda: browser.find_element(By.ID, "chat-view").is_displayed(), what="chat view")
    assert browser.execute_script("return getComputedStyle(document.body).backgroundColor") == "rgb(244, 246, 249)"
    assert browser.execute_script("return Object.keys(localStorage)") == ["theme"]
    assert browser.execute_script("return localStorage.getItem('theme')") == "light"
    assert contrast_failures(browser) == []
    browser.find_element(By.ID, "theme-toggle").click()
    assert browser.execute_script("return localStorage.getItem('theme')") == "dark"


def test_an_error_is_shown_when_the_server_refuses(browser, stack):
    login(browser, stack)
    send(browser, "A chat that another tab deletes")
    finished(browser)
    chat = stack.api("GET", "/chats", stack.token)["chats"][0]
    stack.api("DELETE", "/chats/%d" % chat["id"], stack.token)
    browser.console.allowed.append(("/api/v1/chats/%d/messages" % chat["id"], "status of 404"))
    send(browser, "Are you still there?")
    answer = finished(browser)
    error = answer.find_element(By.CSS_SELECTOR, ".error-box .error")
    assert "did not take this message" in error.text and "not_found" in error.text
    assert answer.find_element(By.CSS_SELECTOR, ".error-box button.retry").is_displayed()
    browser.snap()


def test_a_dropped_connection_says_so_and_offers_retry(browser, slow_stack):
    login(browser, slow_stack)
    send(browser, "A story the service will not finish")
    wait_for(lambda: len(body_text(last_answer(browser)).split()) >= 3, what="a few words")
    # While the service is down nginx answers 503 (the chat list refresh after the answer).
    browser.console.allowed.append(("/api/v1/", "status of 503"))
    browser.console.allowed.append(("/messages", "ERR_INCOMPLETE_CHUNKED_ENCODING"))
    slow_stack.kill_responder()
    try:
        answer = finished(browser)
        error = answer.find_element(By.CSS_SELECTOR, ".error-box .error")
        assert "connection was lost" in error.text and "saved" in error.text
        assert body_text(answer).startswith("Mock w1")
        assert "incomplete" in answer.get_attribute("class")
        assert answer.find_element(By.CSS_SELECTOR, ".error-box button.retry").is_displayed()
        browser.snap()
    finally:
        slow_stack.start_responder()


def test_the_model_is_remembered_per_chat(browser, stack):
    login(browser, stack)
    model = Select(browser.find_element(By.ID, "model"))
    browser.find_element(By.ID, "new-chat").click()
    model.select_by_value("mock-gpt-4o-mini")
    send(browser, "a chat on the small model")
    assert "mock-gpt-4o-mini" in finished(browser).find_element(By.CSS_SELECTOR, ".role").text
    browser.find_element(By.ID, "new-chat").click()
    model.select_by_value("mock-gpt-4o")
    send(browser, "a chat on the large model")
    finished(browser)

    def open_chat(title):
        wait_for(lambda: [b for b in browser.find_elements(By.CSS_SELECTOR, "#chat-list button.open") if b.text == title],
                 what=title)[0].click()
        wait_for(lambda: browser.find_element(By.ID, "chat-heading").text == title, what="chat " + title)
    open_chat("a chat on the small model")
    assert model.first_selected_option.get_attribute("value") == "mock-gpt-4o-mini"
    open_chat("a chat on the large model")
    assert model.first_selected_option.get_attribute("value") == "mock-gpt-4o"
    # A choice not yet sent is kept while the page is open; a sent one is kept by the server.
    model.select_by_value("mock-gpt-4o-mini")
    open_chat("a chat on the small model")
    open_chat("a chat on the large model")
    assert model.first_selected_option.get_attribute("value") == "mock-gpt-4o-mini"
    browser.refresh()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#chat-list button.open"), what="the chat list")
    open_chat("a chat on the small model")
    model = Select(browser.find_element(By.ID, "model"))  # the page was loaded again
    assert model.first_selected_option.get_attribute("value") == "mock-gpt-4o-mini"
    browser.snap()


def test_chat_list_groups_by_date_renames_and_deletes_after_confirming(browser, stack):
    login(browser, stack)
    browser.find_element(By.ID, "new-chat").click()
    send(browser, "a chat to rename")
    finished(browser)
    groups = browser.execute_async_script("""
        const done = arguments[0];
        import("/chatlist.js").then((m) => {
          const today = new Date(); today.setHours(0, 0, 0, 0);
          const t = today.getTime() / 1000;
          done([t + 60, t - 60, t - 3 * 86400, t - 30 * 86400].map((s) => m.groupOf(s)));
        }, (e) => done(String(e)));""")
    assert groups == ["Today", "Yesterday", "Previous 7 days", "Older"], groups
    assert browser.find_element(By.CSS_SELECTOR, "#chat-list h3.group").text.lower() == "today"
    active = browser.find_element(By.CSS_SELECTOR, "#chat-list li.active")
    active.find_element(By.CSS_SELECTOR, "button[aria-label^='Rename']").click()
    field = browser.find_element(By.CSS_SELECTOR, "#chat-list form.rename input")
    assert browser.switch_to.active_element == field
    field.clear()
    field.send_keys("Renamed by the test" + Keys.ENTER)
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#chat-list li.active button.open").text == "Renamed by the test",
             what="the new title in the list")
    assert browser.find_element(By.ID, "chat-heading").text == "Renamed by the test"
    assert browser.switch_to.active_element.text == "Renamed by the test", "focus returns to the chat"
    assert unlabelled_controls(browser) == []
    browser.find_element(By.CSS_SELECTOR, "#chat-list li.active button[aria-label^='Delete']").click()
    confirm = browser.find_element(By.CSS_SELECTOR, "#chat-list li.confirming")
    assert "Delete “Renamed by the test”?" in confirm.text
    assert browser.switch_to.active_element.text == "Cancel", "the safe choice has the focus"
    browser.snap()
    confirm.find_element(By.CSS_SELECTOR, "button.danger-solid").click()
    wait_for(lambda: "Renamed by the test" not in browser.find_element(By.ID, "chat-list").text, what="the chat to go")
    assert browser.find_element(By.ID, "chat-heading").text == "New chat"
    assert [c for c in stack.api("GET", "/chats", stack.token)["chats"] if c["title"] == "Renamed by the test"] == []
