"""The front door itself: what it does not route (the services' internals), how nginx's own refusals look
(the contract's JSON envelope under /api/, the site's page elsewhere), and the API reference it passes to the site."""
import html.parser
import json
import re
import socket
import urllib.parse

import pytest
import requests

INTERNALS = ["/metrics", "/healthz", "/readyz"]
# Spellings nginx normalises to the same path (or that a service's router would treat alike); sent byte for byte,
# since requests would undo the percent-encoding and the double slash before they left the machine.
VARIANTS = INTERNALS + [
    "/metrics/", "/metrics?x", "//metrics", "/%6detrics", "/metrics/.", "/healthz/", "//healthz", "/%68ealthz",
    "/readyz/", "/readyz?probe=1", "/%72eadyz",
]
TWO_MB = b"x" * (2 * 1024 * 1024)


def raw(base_url, request_bytes):
    """Sends REQUEST_BYTES as they are and returns (status, headers with lower-case names, body)."""
    url = urllib.parse.urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port or 80), timeout=10) as sock:
        sock.sendall(request_bytes)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def get(base_url, target, extra=b""):
    host = urllib.parse.urlsplit(base_url).netloc.encode()
    return raw(base_url, b"GET " + target.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra
               + b"Connection: close\r\n\r\n")


def assert_site_page(content_type, body):
    assert content_type.startswith("text/html")
    text = body.decode() if isinstance(body, bytes) else body
    assert 'class="brand"' in text and ">Ticketing<" in text
    assert "<script" not in text and "<style" not in text and " style=" not in text
    assert "nginx" not in text


def assert_envelope(content_type, body, message):
    assert content_type.startswith("application/json")
    assert json.loads(body) == {"errors": [{"message": message}]}


@pytest.mark.parametrize("target", VARIANTS)
def test_internals_are_not_routed_through_the_front_door(base_url, target):
    status, headers, body = get(base_url, target)
    assert status == 404
    assert b"# TYPE" not in body and b"# HELP" not in body
    assert b'"status"' not in body and b'"checks"' not in body
    assert_site_page(headers.get("content-type", ""), body)


@pytest.mark.parametrize("path", INTERNALS)
def test_internals_stay_hidden_for_head_and_post(client, path):
    assert client.head(client.base + path).status_code == 404
    response = client.post(client.base + path, data=b"")
    assert response.status_code == 404
    assert "# TYPE" not in response.text and '"status"' not in response.text


def test_the_internals_404_is_the_sites_own_not_found_page(client):
    page = client.get(client.base + "/metrics")
    site = client.get(client.base + "/no-such-page-here")
    assert page.status_code == site.status_code == 404
    assert "Page not found" in page.text and "Page not found" in site.text
    assert page.headers.get("X-Content-Type-Options") == "nosniff"


def test_an_oversized_api_body_is_a_json_413(client):
    response = client.post(client.base + "/api/tickets", data=TWO_MB, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert_envelope(response.headers.get("Content-Type", ""), response.content, "Payload Too Large")
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_an_oversized_chunked_api_body_is_a_json_413(client):
    # Without a Content-Length nginx finds out while reading the body, later than the check above.
    response = client.post(client.base + "/api/tickets", data=iter([TWO_MB[:1 << 20], TWO_MB[1 << 20:]]),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert_envelope(response.headers.get("Content-Type", ""), response.content, "Payload Too Large")


def test_an_oversized_form_post_is_the_sites_413_page(client):
    response = client.post(client.base + "/auth/signin", data=TWO_MB,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert_site_page(response.headers.get("Content-Type", ""), response.text)
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_oversized_headers_to_the_api_are_json(base_url):
    status, headers, body = get(base_url, "/api/users/currentuser", b"Cookie: session=" + b"a" * 65536 + b"\r\n")
    assert status == 431
    assert_envelope(headers.get("content-type", ""), body, "Request Header Fields Too Large")
    assert headers.get("x-content-type-options") == "nosniff"


def test_oversized_headers_to_a_page_are_the_sites_page(base_url):
    status, headers, body = get(base_url, "/", b"Cookie: session=" + b"a" * 65536 + b"\r\n")
    assert status == 431
    assert_site_page(headers.get("content-type", ""), body)
    assert headers.get("x-content-type-options") == "nosniff"


def test_a_too_long_api_uri_is_json(base_url):
    status, headers, body = get(base_url, "/api/tickets?q=" + "a" * 65536)
    assert status == 414
    assert_envelope(headers.get("content-type", ""), body, "URI Too Long")


def test_a_too_long_page_uri_is_the_sites_page(base_url):
    status, headers, body = get(base_url, "/tickets?q=" + "a" * 65536)
    assert status == 414
    assert_site_page(headers.get("content-type", ""), body)


def test_a_malformed_api_request_is_json(base_url):
    # Two Host headers: nginx refuses the request itself, before any service sees it.
    status, headers, body = get(base_url, "/api/users/currentuser", b"Host: other.example\r\n")
    assert status == 400
    assert_envelope(headers.get("content-type", ""), body, "Bad Request")
    assert headers.get("x-content-type-options") == "nosniff"


def test_a_malformed_page_request_is_the_sites_page(base_url):
    status, headers, body = get(base_url, "/auth/signin", b"Content-Length: nonsense\r\n")
    assert status == 400
    assert_site_page(headers.get("content-type", ""), body)


def test_unknown_api_paths_keep_the_json_404(client):
    response = client.get(client.base + "/api/nothing-here")
    assert response.status_code == 404
    assert_envelope(response.headers.get("Content-Type", ""), response.content, "Not Found")


def test_the_error_pages_stylesheet_is_served_for_a_strict_csp(client):
    page = client.get(client.base + "/metrics")
    assert '<link rel="stylesheet" href="/_errors/errors.css">' in page.text
    css = client.get(client.base + "/_errors/errors.css")
    assert css.status_code == 200
    assert css.headers.get("Content-Type", "").startswith("text/css")
    assert ".brand" in css.text


def test_the_error_pages_themselves_are_not_public(client):
    for path in ["/_errors/html", "/_errors/json"]:
        response = client.get(client.base + path)
        assert response.status_code == 404
        assert "Page not found" in response.text


def test_the_services_own_errors_pass_through_untouched(client):
    response = client.post(client.base + "/api/tickets", json={"title": "x", "price": 1})
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Not authorized"}]}
    assert requests.get(client.base + "/api/tickets/not-an-id").json() == {"errors": [{"message": "Not Found"}]}


class LoadedAddresses(html.parser.HTMLParser):
    """What a page makes the browser fetch by itself: the src and href of its script, link and img elements."""

    def __init__(self):
        super().__init__()
        self.addresses = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "link", "img"):
            self.addresses += [value or "" for name, value in attrs if name in ("src", "href")]


def test_the_api_reference_is_served_and_loads_nothing_from_elsewhere(client):
    page = client.get(client.base + "/docs")
    assert page.status_code == 200
    assert page.headers.get("Content-Type", "").startswith("text/html")
    assert "createOrder" in page.text and 'id="schema-Order"' in page.text
    assert "<script" not in page.text and "<style" not in page.text and " style=" not in page.text
    loaded = LoadedAddresses()
    loaded.feed(page.text)
    assert "/assets/site.css" in loaded.addresses
    assert [address for address in loaded.addresses if re.match(r"\s*(https?:)?//", address, re.IGNORECASE)] == []


def test_the_api_description_is_served_for_client_generators(client):
    response = client.get(client.base + "/docs/openapi.yaml")
    assert response.status_code == 200
    assert response.headers.get("Content-Type", "").startswith("application/yaml")
    assert response.text.startswith("openapi: 3.")
