"""The auth rows of CONTRACT.md, tried through nginx exactly as a client would."""
import base64
import json

import requests


def post(client, path, body=None, **kwargs):
    return client.post(client.base + path, json=body, **kwargs)


def test_signup_sets_the_session_cookie_and_currentuser_reads_it(client, email):
    response = post(client, "/api/users/signup", {"email": email, "password": "secret"})
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email and set(body) == {"id", "email"}

    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith("session=")
    for flag in ("HttpOnly", "Path=/", "SameSite=Lax"):
        assert flag in set_cookie
    token = json.loads(base64.b64decode(client.cookies["session"]))["jwt"]
    assert token.count(".") == 2

    current = client.get(client.base + "/api/users/currentuser").json()["currentUser"]
    assert current["id"] == body["id"] and current["email"] == email and isinstance(current["iat"], int)


def test_signup_validation_errors_use_the_envelope(client):
    response = post(client, "/api/users/signup", {"email": "nope", "password": "1"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "errors": [
            {"message": "Email must be valid", "field": "email"},
            {"message": "Password must be between 4 and 20 characters", "field": "password"},
        ]
    }


def test_email_in_use_ignores_case(client, email):
    assert post(client, "/api/users/signup", {"email": email, "password": "secret"}).status_code == 201
    response = post(requests_session(client), "/api/users/signup", {"email": email.upper(), "password": "secret"})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Email in use"}]}


def test_signin_signout_cycle(client, email):
    post(client, "/api/users/signup", {"email": email, "password": "secret"})
    fresh = requests_session(client)
    wrong = post(fresh, "/api/users/signin", {"email": email, "password": "wrong"})
    assert wrong.status_code == 400 and wrong.json() == {"errors": [{"message": "Invalid credentials"}]}
    unknown = post(fresh, "/api/users/signin", {"email": "x" + email, "password": "secret"})
    assert unknown.json() == wrong.json()
    missing = post(fresh, "/api/users/signin", {"email": email})
    assert missing.json() == {"errors": [{"message": "You must supply a password", "field": "password"}]}

    assert post(fresh, "/api/users/signin", {"email": email, "password": "secret"}).status_code == 200
    assert fresh.get(fresh.base + "/api/users/currentuser").json()["currentUser"]["email"] == email

    out = post(fresh, "/api/users/signout")
    assert out.status_code == 200 and out.json() == {}
    assert out.headers["Set-Cookie"] == "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
    assert fresh.get(fresh.base + "/api/users/currentuser").json() == {"currentUser": None}


def test_repeated_failed_signins_are_refused_with_429(client, email):
    post(client, "/api/users/signup", {"email": email, "password": "secret"})
    statuses = [post(client, "/api/users/signin", {"email": email, "password": f"guess{i}"}).status_code for i in range(6)]
    assert statuses == [400] * 5 + [429]
    assert int(post(client, "/api/users/signin", {"email": email, "password": "secret"}).headers["Retry-After"]) > 0


def test_unknown_paths_and_malformed_json_are_clean_errors(client):
    for path in ("/api/users/nothing", "/api/nothing"):
        response = client.get(client.base + path)
        assert response.status_code == 404, path
        assert response.json() == {"errors": [{"message": "Not Found"}]}, path
    # Every other path belongs to the web front end, whose 404 is a page.
    page = client.get(client.base + "/no/such/page")
    assert page.status_code == 404 and "text/html" in page.headers["Content-Type"] and "Page not found" in page.text
    bad = client.post(client.base + "/api/users/signup", data="{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json() == {"errors": [{"message": "Malformed JSON body"}]}


def test_tampered_cookie_is_signed_out(client, email):
    post(client, "/api/users/signup", {"email": email, "password": "secret"})
    token = json.loads(base64.b64decode(client.cookies["session"]))["jwt"]
    header, payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"id":"x","email":"admin@example.com","iat":1,"exp":9999999999}').rstrip(b"=").decode()
    cookie = base64.b64encode(json.dumps({"jwt": f"{header}.{forged}.{signature}"}).encode()).decode()
    response = requests.get(client.base + "/api/users/currentuser", cookies={"session": cookie})
    assert response.json() == {"currentUser": None}


def test_request_id_is_generated_by_the_front_door(client):
    response = client.get(client.base + "/api/users/currentuser")
    assert len(response.headers["X-Request-Id"]) >= 16


def requests_session(client):
    """A second client, with no cookies, at the same front door."""
    other = requests.Session()
    other.base = client.base
    return other
