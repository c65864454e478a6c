"""The groups page (admins) and the usage view (everyone): real Chromium against a real stack."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import Mock, make_stack, wait_for
from pages import contrast_failures, finished, login, send, unlabelled_controls
from test_ui import open_admin


@pytest.fixture(scope="module")
def org_mock():
    m = Mock("--delay", "0")
    yield m
    m.stop()


@pytest.fixture(scope="module")
def org_stack(org_mock):
    s = make_stack(org_mock)
    s.add_user("alice@example.com")
    s.add_user("bob@example.com")
    yield s
    s.stop()


def group_row(browser, name):
    return browser.find_element(By.CSS_SELECTOR, "#groups-table tr[data-group='%s']" % name)


def test_groups_page_makes_a_group_and_limits_a_connection_to_it(browser, org_stack):
    login(browser, org_stack)
    open_admin(browser, "groups")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#group-members input[type=checkbox]"), what="member boxes")
    browser.find_element(By.ID, "group-name").send_keys("research")
    browser.find_element(By.ID, "group-quota").send_keys("5000")
    for box in browser.find_elements(By.CSS_SELECTOR, "#group-members label"):
        if "alice@example.com" in box.text:
            box.find_element(By.TAG_NAME, "input").click()
    browser.find_element(By.CSS_SELECTOR, "#group-form button[type=submit]").click()
    row = wait_for(lambda: group_row(browser, "research"), what="the new group's row")
    assert "alice@example.com" in row.text and "5,000" in row.text and "local" in row.text
    assert "bob@example.com" not in row.text

    # Editing: the quota changes, the trail says so.
    row.find_element(By.XPATH, ".//button[text()='Edit']").click()
    quota = browser.find_element(By.ID, "group-quota")
    quota.clear()
    quota.send_keys("1000")
    browser.find_element(By.CSS_SELECTOR, "#group-form button[type=submit]").click()
    wait_for(lambda: "1,000" in group_row(browser, "research").text, what="the new quota")

    # A taken name is refused with the server's reason (the browser itself refuses a fractional quota).
    browser.console.allowed.append(("/api/v1/admin/groups", "status of 409"))
    browser.find_element(By.ID, "group-name").send_keys("research")
    browser.find_element(By.CSS_SELECTOR, "#group-form button[type=submit]").click()
    wait_for(lambda: "exists" in browser.find_element(By.ID, "group-error").text, what="the refusal")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#groups-table tr[data-group='research']")) == 1
    browser.find_element(By.ID, "group-name").clear()
    assert unlabelled_controls(browser) == []
    assert contrast_failures(browser) == []
    browser.snap()

    # The connection form lists the groups: limiting the mock connection to research.
    browser.find_element(By.CSS_SELECTOR, "[data-tab='connections']").click()
    wait_for(lambda: browser.find_element(By.ID, "tab-connections").is_displayed(), what="connections")
    browser.find_element(By.XPATH, "//button[@aria-label='Edit mock']").click()
    picker = wait_for(lambda: Select(browser.find_element(By.ID, "conn-groups")), what="group picker")
    wait_for(lambda: len(picker.options) == 1, what="the group option")
    picker.select_by_visible_text("research (local)")
    browser.find_element(By.ID, "conn-key").send_keys("sk-browser-test-key-0123456789")
    browser.find_element(By.CSS_SELECTOR, "#connection-form button[type=submit]").click()
    wait_for(lambda: "1 group(s) only" in browser.find_element(By.ID, "connections-table").text, what="the limited connection")
    connections = org_stack.api("GET", "/admin/connections", org_stack.token)["connections"]
    groups = org_stack.api("GET", "/admin/groups", org_stack.token)["groups"]
    assert connections[0]["allowed_groups"] == [groups[0]["id"]]
    # The admin is not in research: the model list is empty for them now (admins are bound too).
    assert org_stack.api("GET", "/models", org_stack.token)["data"] == []
    # Back to everyone, for the next test.
    org_stack.api("PUT", "/admin/connections/%d" % connections[0]["id"], org_stack.token,
                  {"allowed_groups": [], "api_key": "sk-browser-test-key-0123456789"})


def test_usage_view_shows_a_chart_beside_the_table(browser, org_stack):
    login(browser, org_stack, email="alice@example.com")
    send(browser, "How much does this cost?")
    finished(browser)
    send(browser, "And this one?")
    finished(browser)
    browser.find_element(By.CSS_SELECTOR, "#nav a[data-view='usage']").click()
    wait_for(lambda: browser.find_element(By.ID, "usage-view").is_displayed(), what="usage view")
    bars = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#usage-chart svg g.bar"), what="the chart")
    assert len(bars) == 30  # the last 30 UTC days, today's last
    today = bars[-1]
    assert today.find_element(By.CSS_SELECTOR, "rect.prompt").get_attribute("height") not in ("0", None)
    title = today.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert "prompt" in title and "completion" in title
    rows = browser.find_elements(By.CSS_SELECTOR, "#usage-table tbody tr")
    assert len(rows) == 1 and "mock-gpt-4o" in rows[0].text
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    assert cells[2].text == "2"  # two requests today
    # Alice is in research (quota 1,000): the line above says how much is left.
    quota = browser.find_element(By.ID, "usage-quota").text
    assert "of your 1,000 daily tokens used" in quota
    # Chart and table side by side at desktop width.
    chart = browser.find_element(By.ID, "usage-chart").rect
    table = browser.find_element(By.ID, "usage-table").rect
    assert chart["x"] + chart["width"] <= table["x"] + 1 and abs(chart["y"] - table["y"]) < 40
    assert unlabelled_controls(browser) == []
    assert contrast_failures(browser) == []
    browser.snap()


def test_admin_usage_tab_shows_everyone(browser, org_stack):
    login(browser, org_stack)
    open_admin(browser, "usage")
    wait_for(lambda: "alice@example.com" in browser.find_element(By.ID, "admin-usage-table").text, what="alice's row")
    browser.find_element(By.ID, "admin-usage-user").send_keys("bob@example.com")
    browser.find_element(By.CSS_SELECTOR, "#admin-usage-filters button[type=submit]").click()
    wait_for(lambda: "No usage in this range." in browser.find_element(By.ID, "admin-usage-table").text, what="bob has none")
    assert browser.find_elements(By.CSS_SELECTOR, "#admin-usage-chart svg g.bar")
    browser.snap()
