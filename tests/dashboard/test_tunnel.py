"""The dashboard behind a tunnel that ends TLS (cloudflared, ngrok, Caddy): the browser is on HTTPS, the bridge not."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, GUARD, TOKEN, free_port
from tests.dashboard.test_browser import ARGS, CHROMIUM, WAIT_MS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (the browser is told to accept it)."""
    x509 = pytest.importorskip("cryptography.x509", reason="cryptography is not installed (it comes with ccxt)")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@pytest.fixture
def tls_tunnel(tmp_path: Path) -> Iterator[Any]:
    """Factory: tls_tunnel(target_port) -> the port of a TLS-ending relay to 127.0.0.1:target_port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers: list[asyncio.Server] = []

    def start(target: int) -> int:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self_signed(tmp_path))

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        port = free_port()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(relay, "127.0.0.1", port, ssl=context), loop)
        servers.append(server.result(timeout=GUARD))
        return port

    yield start
    for server in servers:
        loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def test_over_https_the_cookie_is_secure_and_the_copied_webhook_url_is_https(make_daemon: Any, tls_tunnel: Any) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    daemon = make_daemon()
    public = f"https://127.0.0.1:{tls_tunnel(daemon.port)}"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.set_default_timeout(WAIT_MS)  # the page's waits for an outcome, under GUARD
            # What the button copies, kept by the page itself: the real clipboard depends on the window's focus.
            page.add_init_script("Object.defineProperty(navigator.clipboard, 'writeText', "
                                 "{value: async (text) => { window.copied = text; }})")  # fmt: skip
            page.goto(public + "/")
            page.fill("#token", ADMIN)
            page.click("#sign-in")
            page.wait_for_selector("#timeline")
            cookie = next(c for c in page.context.cookies() if c["name"] == "bridge_session")
            assert cookie["secure"], "else the browser would send the session over plain HTTP to this host too"
            # The button is on the page before the script at its end gives it its click handler: a click meanwhile
            # does nothing, which a loaded machine makes likely. The load event comes after that script ran.
            page.wait_for_load_state("load")
            page.click("button.copy")
            # Not the button's "Copied": it shows for 1.5 s only, which a loaded machine misses.
            page.wait_for_function("() => window.copied !== undefined", polling=50, timeout=WAIT_MS)
            # Pasted into TradingView, an http:// URL would carry the token across the internet in clear.
            assert page.evaluate("window.copied") == f"{public}/webhook/sq/{TOKEN}"
        finally:
            browser.close()


def test_another_sites_page_cannot_post_the_sign_in_form(make_daemon: Any) -> None:
    # A page on another origin (here an opaque data: one) posting to the sign-in: Chromium marks it cross-site.
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    daemon = make_daemon()
    form = (f"<form method=post action='{daemon.base}/login'><input name=token value='{ADMIN}'></form>"
            "<script>document.forms[0].submit()</script>")  # fmt: skip
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)  # the page's waits for an outcome, under GUARD
            page.goto("data:text/html," + form)
            page.wait_for_url(f"{daemon.base}/**")  # the form's answer (or, were it taken, the dashboard)
            page.wait_for_load_state()
            assert "sign in from the dashboard's own page" in page.content()
            assert not [c for c in page.context.cookies() if c["name"] == "bridge_session"]
        finally:
            browser.close()


def test_copy_url_after_the_session_ended_copies_nothing_and_shows_the_sign_in(make_daemon: Any) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    daemon = make_daemon()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)  # the page's waits for an outcome, under GUARD
            page.add_init_script("navigator.clipboard && Object.defineProperty(navigator.clipboard, 'writeText', "
                                 "{value: async (text) => { window.copied = text; }})")  # fmt: skip
            page.goto(daemon.base + "/")
            page.fill("#token", ADMIN)
            page.click("#sign-in")
            page.wait_for_selector("#timeline")
            page.route("**/dashboard/state", lambda route: route.abort())  # only the copy button may notice the end
            # The session ends (a restart, the admin token rotated, 12 hours): here, signed out from elsewhere.
            cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "bridge_session")
            with httpx.Client(base_url=daemon.base, cookies={"bridge_session": cookie}) as other:
                assert other.post("/logout").status_code == 303
            page.wait_for_load_state("load")  # the button has its click handler (see above)
            page.click("button.copy")
            deadline = time.monotonic() + GUARD
            while True:  # until something was copied or the sign-in form shows
                try:
                    if page.evaluate("window.copied !== undefined || !!document.getElementById('sign-in')"):
                        break
                except sync_api.Error:  # the page is being reloaded
                    pass
                assert time.monotonic() < deadline, "neither a copy nor the sign-in form came"
                page.wait_for_timeout(50)
            page.wait_for_load_state()
            assert page.evaluate("window.copied") is None, "a URL ending in /undefined would fail every alert"
            assert page.locator("#sign-in").is_visible()
        finally:
            browser.close()
