"""Browser tests: real Chromium (Debian's chromium and chromium-driver, driven by Selenium)
against a real stack started by scripts/stack (redis-server, the responder, nginx) and the mock
provider. Screenshots go to $CRYOTENSOR_TEST_OUTPUT (default var/test-output/screenshots)."""
import json
import os
import shutil
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
    def __init__(self, mock, **env):
        self.dir = tempfile.mkdtemp(prefix="ct-browser-")
        self.port = free_port()
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


@pytest.fixture
def browser(request):
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--disable-gpu"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    yield driver
    os.makedirs(OUTPUT, exist_ok=True)
    driver.save_screenshot(os.path.join(OUTPUT, request.node.name + ".png"))
    driver.quit()


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
