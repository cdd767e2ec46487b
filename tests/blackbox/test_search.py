"""The listing's search through nginx: words, prices and sort, with paging, and bad values as field errors."""
import urllib.parse
import uuid

import pytest
import requests

from hostile import account, is_envelope, json_or_none, list_ticket


def titles(response):
    assert response.status_code == 200, response.text
    return [ticket["title"] for ticket in response.json()]


def test_words_prices_and_sort_narrow_the_listing(base_url):
    seller = account(base_url)
    word = "w" + uuid.uuid4().hex  # one word no other test's title has
    for title, price in ((f"{word} jazz night", 30), (f"{word} rock concerts", 12.5), (f"{word} opera", 80)):
        list_ticket(seller, price=price, title=title)
    get = lambda query: titles(seller.get(base_url + f"/api/tickets?q={word}&" + query))
    assert get("") == [f"{word} jazz night", f"{word} rock concerts", f"{word} opera"]
    assert get("sort=price") == [f"{word} rock concerts", f"{word} jazz night", f"{word} opera"]
    assert get("sort=-price") == [f"{word} opera", f"{word} jazz night", f"{word} rock concerts"]
    assert get("sort=newest") == [f"{word} opera", f"{word} rock concerts", f"{word} jazz night"]
    assert get("minPrice=12.5&maxPrice=30") == [f"{word} jazz night", f"{word} rock concerts"]
    assert get("q=" + urllib.parse.quote(f"{word.upper()} Concert")) == [f"{word} rock concerts"], "words, any case, stemmed"
    assert titles(seller.get(base_url + "/api/tickets?q=" + urllib.parse.quote(f'"{word}" OR *'))) == [], "never query syntax"


def test_a_search_pages_with_its_link_and_skips_nothing(base_url):
    seller = account(base_url)
    word = "p" + uuid.uuid4().hex
    made = [list_ticket(seller, price=price, title=f"{word} {index}")["id"] for index, price in enumerate((9, 5, 9, 5, 7))]
    path = f"/api/tickets?q={word}&sort=price&minPrice=5&limit=2"
    seen = []
    while path:
        response = seller.get(base_url + path)
        assert response.status_code == 200, response.text
        seen += [ticket["id"] for ticket in response.json()]
        list_ticket(seller, price=6, title=f"{word} later")  # listed between pages: met once or not at all
        link = response.headers.get("Link")
        assert link is None or link.startswith(f"</api/tickets?q={word}&minPrice=5&sort=price&limit=2&after="), link
        path = link.split(">")[0].lstrip("<") if link else None
    assert len(seen) == len(set(seen)), "a ticket came twice"
    assert [ticket for ticket in seen if ticket in made] == [made[1], made[3], made[4], made[0], made[2]]


def test_bad_search_values_are_field_errors(base_url):
    for query, field in (("minPrice=abc", "minPrice"), ("maxPrice=1e3", "maxPrice"), ("minPrice=9&maxPrice=1", "maxPrice"),
                         ("sort=cheapest", "sort"), ("q=" + "a" * 201, "q"), ("q=a%00b", "q"), ("minPrice=-1", "minPrice")):
        response = requests.get(base_url + "/api/tickets?" + query)
        assert response.status_code == 400 and is_envelope(json_or_none(response), field=field), \
            f"?{query}: {response.status_code} {response.text[:200]}"


@pytest.mark.parametrize("sort", ["oldest", "newest", "price", "-price"])
def test_every_sort_with_words_and_a_price_range_pages_to_the_whole_list(base_url, sort):
    seller = account(base_url)
    word = "c" + uuid.uuid4().hex
    for index, price in enumerate((8, 3, 8, 12, 5, 8, 20, 1)):
        list_ticket(seller, price=price, title=f"{word} {index}")
    query = f"q={word}&minPrice=3&maxPrice=12&sort={sort}"
    whole = seller.get(base_url + "/api/tickets?" + query)
    assert whole.status_code == 200 and "Link" not in whole.headers
    expected = [ticket["id"] for ticket in whole.json()]
    assert len(expected) == 6, whole.text  # 1 and 20 are out of the range
    prices = [ticket["price"] for ticket in whole.json()]
    if sort in ("price", "-price"):
        assert prices == sorted(prices, reverse=sort == "-price")
    seen, path = [], f"/api/tickets?{query}&limit=4"
    while path:
        response = seller.get(base_url + path)
        assert response.status_code == 200, response.text
        seen += [ticket["id"] for ticket in response.json()]
        link = response.headers.get("Link")
        path = link.split(">")[0].lstrip("<") if link else None
    assert seen == expected
