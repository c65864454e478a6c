"""Browser tests: real Chromium (Debian's chromium and chromium-driver, driven by Selenium)
against a real stack started by scripts/stack (redis-server, the responder, nginx) and the mock
provider. Screenshots go to $CRYOTENSOR_TEST_OUTPUT (default var/test-output/screenshots)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CRYOTENSOR_BIN", os.path.join(ROOT, ".build", "debug", "cryotensor"))
OUTPUT = os.environ.get("CRYOTENSOR_TEST_OUTPUT", os.path.join(ROOT, "var", "test-output", "screenshots"))
KEY = "browser-test-key-" + "k" * 24


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mock:
    def __init__(self, *args):
        self.proc = subprocess.Popen([os.path.join(ROOT, "scripts", "mock-upstream"), "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.base = "http://127.0.0.1:%d/v1" % self.port

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Stack:
    def __init__(self, mock, port=None, **env):
        self.dir = tempfile.mkdtemp(prefix="ct-browser-")
        self.port = port or free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CRYOTENSOR_") and k != "REDIS_URL"}
        self.env.update({"CRYOTENSOR_DB": os.path.join(self.dir, "cryotensor.db"),
                         "REDIS_URL": "unix://" + os.path.join(self.dir, "run", "redis.sock"),
                         "OPENAI_ALLOWED_API_BASE_URLS": mock.base, "CONFIG_ENCRYPTION_KEY": KEY})
        self.env.update(env)
        subprocess.run([os.path.join(ROOT, "scripts", "stack"), "start", "--var", self.dir, "--port", str(self.port), "--bin", BIN],
                       env=self.env, check=True)
        self.url = "http://127.0.0.1:%d/" % self.port

    def cli(self, *args, stdin=""):
        return subprocess.run([BIN, *args], env=self.env, input=stdin, capture_output=True, text=True, check=True).stdout.strip()

    def add_user(self, email, admin=False, password="browser-password-123"):
        self.cli("user", "add", email, *(["--admin"] if admin else []), stdin=password + "\n")
        return password

    def api(self, method, path, token, body=None):
        req = urllib.request.Request(self.url + "api/v1" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"null")

    def kill_responder(self):
        """The responder dies at once (SIGKILL), as a crash would: nginx loses it mid-answer."""
        with open(os.path.join(self.dir, "run", "cryotensor.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)

    def start_responder(self):
        subprocess.run([os.path.join(ROOT, "scripts", "stack"), "responder-start", "--var", self.dir, "--bin", BIN],
                       env=self.env, check=True)

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "stack"), "stop", "--var", self.dir], env=self.env)
        shutil.rmtree(self.dir, ignore_errors=True)


def make_stack(mock, **env):
    stack = Stack(mock, **env)
    stack.add_user("admin@example.com", admin=True)
    token = stack.cli("token", "create", "--user", "admin@example.com")
    stack.api("POST", "/admin/connections", token, {"name": "mock", "kind": "openai", "base_url": mock.base,
                                                    "api_key": "sk-browser-test-key-0123456789"})
    stack.token = token
    return stack


@pytest.fixture(scope="session")
def mock():
    m = Mock("--delay", "0.3")
    yield m
    m.stop()


@pytest.fixture(scope="session")
def stack(mock):
    s = make_stack(mock)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def encrypted_stack(mock):
    s = make_stack(mock, ENABLE_LOCAL_ENCRYPTION="true")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def slow_mock():
    """A provider that takes its time (40 deltas, 0.15 s apart): long enough to press Stop."""
    m = Mock("--chunks", "40", "--delay", "0.15")
    yield m
    m.stop()


@pytest.fixture(scope="session")
def slow_stack(slow_mock):
    s = make_stack(slow_mock)
    yield s
    s.stop()


# Console entries a test may see without failing: the browser itself logs every failed request,
# and GET /auth/me answers 401 on every visit before signing in. Tests add the refusals they cause.
ALLOWED_NETWORK = [("/api/v1/auth/me", "status of 401")]


class Console:
    """Everything the page wrote to the console, kept across reads (get_log empties the buffer)."""

    def __init__(self, driver):
        self.driver = driver
        self.entries = []
        self.allowed = list(ALLOWED_NETWORK)

    def read(self):
        self.entries.extend(self.driver.get_log("browser"))
        return self.entries

    def csp_violations(self):
        return [e for e in self.read() if "Content Security Policy" in e.get("message", "")]

    def errors(self):
        def allowed(entry):
            message = entry.get("message", "")
            return entry.get("source") == "network" and any(url in message and what in message for url, what in self.allowed)
        return [e for e in self.read() if e.get("level") == "SEVERE" and not allowed(e)]


@pytest.fixture
def browser(request):
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--disable-gpu"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    driver.console = Console(driver)
    driver.started_at = time.time()
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, request.node.name + ".png")
    # A test calls browser.snap() when the page shows what its name says; otherwise the end state is kept.
    driver.snap = lambda: driver.save_screenshot(shot)
    yield driver
    if not os.path.exists(shot) or os.path.getmtime(shot) < driver.started_at:
        driver.save_screenshot(shot)
    try:
        if request.node.rep_call.passed:
            assert driver.console.csp_violations() == [], "CSP violations in the console"
            assert driver.console.errors() == [], "errors in the browser console"
    finally:
        driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Lets the browser fixture know whether the test itself passed (its console check runs after)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def wait_for(predicate, timeout=10, step=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # the page may be mid-update
            pass
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)
