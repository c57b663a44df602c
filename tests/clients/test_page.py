"""The interactive test page served by the gateway, in headless Chromium (Playwright)."""

from __future__ import annotations

from html.parser import HTMLParser

import requests

from tests.clients.conftest import JS_DIR, ROOT

STATIC = ROOT / "services" / "gateway" / "static"
REQUIRED_IDS = {
    "url",
    "token",
    "connect",
    "disconnect",
    "state",
    "serial",
    "subscribe-all",
    "subscribe-one",
    "unsubscribe",
    "log",
    "count",
}


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        for key in ("src", "href"):
            if attrs.get(key):
                self.sources.append(attrs[key])
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1


def test_page_has_the_stable_ids_and_only_local_assets():
    scan = _Scan()
    scan.feed((STATIC / "index.html").read_text())
    assert set(scan.ids) >= REQUIRED_IDS
    assert len(scan.ids) == len(set(scan.ids))
    # Everything from the gateway itself (no CDN), no inline script (the CSP forbids it).
    assert scan.sources and all(src.startswith("/static/") for src in scan.sources)
    assert scan.inline_scripts == 0
    for src in scan.sources:
        assert (STATIC / src.removeprefix("/static/")).is_file()


def test_page_script_never_renders_as_html():
    script = (STATIC / "app.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


def test_page_runs_on_the_client_library():
    # The page's connection logic is the library's (clients/js), not a copy of its own.
    script = (STATIC / "app.js").read_text()
    assert 'from "/static/lib/drone-events.js"' in script
    assert "socket.emit(" not in script and "io(" not in script


def test_vendored_browser_client_is_the_pinned_package(node_modules):
    vendored = STATIC / "vendor" / "socket.io.min.js"
    package = node_modules / "socket.io-client" / "dist" / "socket.io.min.js"
    assert vendored.read_bytes() == package.read_bytes()
    assert '"socket.io-client": "4.8.4"' in (JS_DIR / "package.json").read_text()


def test_gateway_serves_the_page_and_its_assets(stack):
    page = requests.get(stack.gateway.url + "/", timeout=5)
    assert page.status_code == 200 and 'id="log"' in page.text
    for asset in ("/static/app.js", "/static/app.css", "/static/vendor/socket.io.min.js"):
        assert requests.get(stack.gateway.url + asset, timeout=5).status_code == 200


def _connect_and_subscribe_all(page, stack, token):
    page.goto(stack.gateway.url + "/")
    page.fill("#token", token)
    page.click("#connect")
    page.wait_for_selector("#state[data-state=connected]")
    page.click("#subscribe-all")
    page.wait_for_selector("#log >> text=subscribed")


def test_page_shows_a_registered_drone_live(page, stack, tokens):
    _connect_and_subscribe_all(page, stack, tokens["viewer"])
    stack.register("PAGE1")
    page.wait_for_selector("#log >> text=drone.created · PAGE1 · v1")
    assert page.text_content("#count") == "1"
    assert page.input_value("#url") == stack.gateway.url  # the page's own origin


def test_page_renders_event_data_as_text(page, stack, tokens):
    _connect_and_subscribe_all(page, stack, tokens["viewer"])
    stack.register("PAGE2", deviceName='<img src=x id="injected">')
    page.wait_for_selector("#log >> text=drone.created · PAGE2")
    assert page.query_selector("#injected") is None
    assert '<img src=x id=\\"injected\\">' in page.text_content("#log")


def test_page_subscribes_to_one_serial(page, stack, tokens):
    page.goto(stack.gateway.url + "/")
    page.fill("#token", tokens["viewer"])
    page.click("#connect")
    page.wait_for_selector("#state[data-state=connected]")
    page.fill("#serial", "PAGE4")
    page.click("#subscribe-one")
    page.wait_for_selector("#subscriptions >> text=PAGE4")
    stack.register("PAGE3")
    stack.register("PAGE4")
    page.wait_for_selector("#log >> text=drone.created · PAGE4")
    assert page.text_content("#count") == "1"  # PAGE3's event came first and was not sent


def test_page_reports_a_refused_token(page, stack):
    page.goto(stack.gateway.url + "/")
    page.fill("#token", "forged")
    page.click("#connect")
    page.wait_for_selector("#state[data-state=error]")
    assert "unauthorized" in page.text_content("#state")


def test_page_reconnects_and_resumes_after_a_gateway_restart(page, stack, tokens):
    _connect_and_subscribe_all(page, stack, tokens["viewer"])
    stack.register("PAGE5")
    page.wait_for_selector("#log >> text=drone.created · PAGE5")
    stack.gateway.stop()
    stack.register("PAGE6")  # while the page is disconnected
    stack.gateway.start()
    page.wait_for_selector("#log >> text=drone.created · PAGE6", timeout=20_000)
    assert page.text_content("#recovered") == "true"
    assert page.text_content("#count") == "2"
    assert page.text_content("#duplicates") == "0"
