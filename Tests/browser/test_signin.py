"""Sign-in with an identity provider in a real browser: the login page's "Sign in with …" button
against a real OpenID provider (django-oidc-provider, scripts/oidc-provider) on loopback."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest
from selenium.webdriver.common.by import By

from conftest import ROOT, Stack, free_port, wait_for

SECRET = "browser-oidc-secret-7c1e0d2a9b"
PEOPLE = [
    {"username": "alice", "password": "alice-pw-1", "email": "alice@example.com", "email_verified": True,
     "groups": ["ct-admins", "staff"]},
    {"username": "carol", "password": "carol-pw-1", "email": "carol@example.com", "email_verified": True,
     "groups": ["outsiders"]},
]


class Provider:
    def __init__(self, stack_port):
        self.dir = tempfile.mkdtemp(prefix="ct-op-browser-")
        self.port = free_port()
        users = os.path.join(self.dir, "users.json")
        with open(users, "w") as f:
            json.dump(PEOPLE, f)
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "scripts", "oidc-provider"), "--dir", self.dir, "--port", str(self.port), "--users", users,
             "--client-secret", SECRET, "--redirect-uri", "http://127.0.0.1:%d/api/v1/auth/oidc/callback" % stack_port],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready "), line
        self.issuer = line.split()[1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)



@pytest.fixture(scope="module")
def sso(mock):
    port = free_port()
    provider = Provider(port)
    env = {"OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": "cryotensor", "OIDC_CLIENT_SECRET": SECRET,
           "OIDC_REDIRECT_URI": "http://127.0.0.1:%d/api/v1/auth/oidc/callback" % port, "OIDC_ALLOW_INSECURE_HTTP_ISSUER": "true",
           "OIDC_ADMIN_GROUPS": "ct-admins", "OIDC_ALLOWED_GROUPS": "staff", "OIDC_PROVIDER_NAME": "Example IdP",
           "ENABLE_PASSWORD_LOGIN": "false"}
    stack = Stack(mock, port=port, **env)
    yield stack, provider
    stack.stop()
    provider.stop()


def allow_provider_noise(browser):
    # The provider's login page has no favicon; Chromium logs the 404 as a console error.
    browser.console.allowed.append(("favicon.ico", "404"))


def provider_login(browser, username, password):
    wait_for(lambda: browser.find_element(By.ID, "username"), what="the provider's login form")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "signin").click()


def test_sign_in_with_the_identity_provider(browser, sso):
    stack, provider = sso
    allow_provider_noise(browser)
    browser.get(stack.url)
    link = wait_for(lambda: browser.find_element(By.ID, "sso-link") if browser.find_element(By.ID, "sso").is_displayed() else None,
                    what="the Sign in with button")
    assert link.text == "Sign in with Example IdP"
    # Password sign-in is off: its form is hidden.
    assert not browser.find_element(By.ID, "login-form").is_displayed()
    browser.snap()
    link.click()
    wait_for(lambda: browser.current_url.startswith("http://127.0.0.1:%d/" % provider.port), what="the provider")
    provider_login(browser, "alice", "alice-pw-1")
    wait_for(lambda: browser.find_element(By.ID, "chat-view").is_displayed(), what="the chat view after the provider")
    assert browser.find_element(By.ID, "who").text == "alice@example.com (admin)"
    assert browser.current_url == stack.url
    browser.save_screenshot(os.path.join(os.environ.get("CRYOTENSOR_TEST_OUTPUT", os.path.join(ROOT, "var", "test-output", "screenshots")),
                                         "test_sign_in_with_the_identity_provider_done.png"))
    # Signing out ends the provider's session too (RP-initiated logout): its end-session page.
    browser.find_element(By.ID, "logout").click()
    wait_for(lambda: "/openid/end-session" in browser.current_url, what="the provider's end-session page")
    assert browser.current_url.startswith("http://127.0.0.1:%d/" % provider.port)
    browser.get(stack.url)
    wait_for(lambda: browser.find_element(By.ID, "login-view").is_displayed(), what="signed out here too")


def test_a_refused_sign_in_says_why(browser, sso):
    stack, provider = sso
    allow_provider_noise(browser)
    browser.get(stack.url)
    wait_for(lambda: browser.find_element(By.ID, "sso").is_displayed(), what="the Sign in with button")
    browser.find_element(By.ID, "sso-link").click()
    provider_login(browser, "carol", "carol-pw-1")
    message = wait_for(lambda: browser.find_element(By.ID, "sso-error").text, what="the login error")
    assert "not in a group that may use this service" in message
    # The code is gone from the address bar, so a reload does not repeat it.
    assert "login_error" not in browser.current_url
    browser.snap()
    # A code the page does not know is shown as a generic failure, never as given.
    browser.get(stack.url + "?login_error=%3Cimg%20src%3Dx%3E")
    message = wait_for(lambda: browser.find_element(By.ID, "sso-error").text, what="the generic error")
    assert message == "Sign-in failed. Please try again."
    assert not browser.find_elements(By.CSS_SELECTOR, "#login-view img")
