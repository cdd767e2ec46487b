"""The whole buyer and seller journey in headless Chromium, through nginx, against the real services and the
Stripe emulator's Stripe.js. Each page is checked with axe-core and saved as a screenshot in $SCREENSHOT_DIR (default
.screenshots/)."""
import os
import re
import time
import uuid

import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from hostile import PASSWORD, account, list_ticket, reserved
from test_payments_expiry import pay

SHOTS = os.environ.get("SCREENSHOT_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".screenshots"))


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.implicitly_wait(0)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name):
    accessible(driver, name)
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def accessible(driver, page):
    """axe-core's rules on the page as shown, failing on any violation in the site's own markup: the card fields are
    the Stripe stand-in's (real Stripe.js draws them in its own frame)."""
    axe = Axe(driver)
    axe.inject()
    results = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run({exclude: [['#card-element']]}, {resultTypes: ['violations']}).then(done, e => done({error: String(e)}));")
    assert "error" not in results, f"{page}: axe-core failed: {results}"
    assert results["violations"] == [], f"{page}: " + axe.report(results["violations"])


def wait_for(driver, condition, timeout=10):
    # A page being replaced by the next one makes elements vanish under the check: look again. Chromedriver reports
    # some of those vanishings as its own inspector error rather than as a stale element; any other error is raised.
    def check(d):
        try:
            return condition(d)
        except WebDriverException as error:
            if "does not belong to the document" in (error.msg or ""):
                return False
            raise
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(check)


def text(driver):
    return driver.find_element(By.TAG_NAME, "main").text


def fill(driver, **fields):
    for name, value in fields.items():
        element = driver.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)


def authenticate(driver, base, form, email):
    """Signs up or in (`form`: "signup", "signin") through the site's form; returns once the header names the user."""
    driver.get(f"{base}/auth/{form}")
    accessible(driver, form)
    fill(driver, email=email, password=PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: email in d.find_element(By.TAG_NAME, "header").text)


def sign_up(driver, base, email):
    authenticate(driver, base, "signup", email)


def sign_in(driver, base, email):
    authenticate(driver, base, "signin", email)


def sell(driver, base, title, price):
    driver.get(base + "/tickets/new")
    accessible(driver, "sell")
    fill(driver, title=title, price=price)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def listing_row(driver, title):
    """The row of "My listings" that shows `title`, once the page shows it."""
    return wait_for(driver, lambda d: d.find_element(By.XPATH, f"//tr[td/a[text()={title!r}]]"))


def results(driver):
    return [row.find_element(By.XPATH, "./td[1]").text for row in driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")]


def purchase(driver, ticket_link):
    """The orders service learns of a ticket from an event; until then, a purchase is a 404 page: try again.
    Each try waits for the answer's page first (an order's, or the refusal at .../purchase). Read too early, the URL
    is still the ticket's, and the next try finds the ticket reserved by the order just placed."""
    def purchased(d):
        d.get(ticket_link)
        d.find_element(By.XPATH, "//button[text()='Purchase']").click()
        wait_for(d, lambda d: d.current_url != ticket_link)
        return "/orders/" in d.current_url
    wait_for(driver, purchased)


def test_sell_buy_and_pay_with_a_card_in_the_browser(browser, base_url):
    seller = f"seller-{uuid.uuid4().hex[:8]}@example.com"
    buyer = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    title = f"Opera <b>{uuid.uuid4().hex[:6]}</b>"

    sign_up(browser, base_url, seller)
    shot(browser, "01-home-signed-in")
    sell(browser, base_url, title, "-5")
    wait_for(browser, EC.visibility_of_element_located((By.ID, "form-errors")))
    assert "Price must be greater than 0" in text(browser)
    shot(browser, "02-new-ticket-error")
    sell(browser, base_url, title, "42.50")
    # Listed, on the seller's own page, with the markup in its title shown as text, not interpreted.
    wait_for(browser, lambda d: d.current_url == base_url + "/tickets/listed")
    row = listing_row(browser, title)
    assert browser.find_elements(By.XPATH, "//td//b") == []
    assert "$42.50" in row.text and row.find_element(By.CSS_SELECTOR, ".state").text == "On sale"
    shot(browser, "03-listed")
    ticket_link = row.find_element(By.XPATH, "./td/a").get_attribute("href")
    # Found by a word of its title, as a buyer would.
    searched = f"{base_url}/?q={title.split('<b>')[1].split('<')[0]}"

    browser.delete_all_cookies()
    sign_up(browser, base_url, buyer)
    browser.get(ticket_link)
    shot(browser, "04-ticket")
    purchase(browser, ticket_link)
    countdown = wait_for(browser, EC.visibility_of_element_located((By.ID, "countdown")))
    def left():
        minutes, seconds = re.match(r"(\d+):(\d\d) left to pay", countdown.text).groups()
        return int(minutes) * 60 + int(seconds)

    first = left()
    assert "At 0:00 the order is cancelled" in countdown.text, countdown.text
    time.sleep(1.2)
    assert left() < first, "the countdown runs"
    shot(browser, "05-order-countdown")

    # Stripe.js (the emulator's stand-in) draws the card inputs; the card goes to Stripe, only a token to us.
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#card-element input"))
    for placeholder, value in (("number", "4242424242424242"), ("exp_month", "12"), ("exp_year", "30"),
                               ("cvc", "123"), ("postal_code", "42424")):
        browser.find_element(By.CSS_SELECTOR, f"#card-element input[placeholder={placeholder}]").send_keys(value)
    browser.find_element(By.ID, "pay").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "order-status") and "Paid" in d.find_element(By.ID, "order-status").text)
    shot(browser, "06-order-paid")

    browser.get(base_url + "/orders")
    assert title in text(browser) and "Paid" in text(browser)
    shot(browser, "07-my-orders")

    # Held since its payment: the pass, as a QR code the browser draws.
    def holding(driver):
        driver.get(base_url + "/tickets/held")
        return title in text(driver)
    wait_for(browser, holding)
    qr = browser.find_element(By.CSS_SELECTOR, ".pass img.qr")
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", qr) > 0, "the QR code is drawn"
    assert browser.find_element(By.CSS_SELECTOR, ".pass .pass-code").text.startswith("P1.")
    shot(browser, "08-my-tickets")
    browser.get(searched)
    assert title not in text(browser) and "No tickets match this search" in text(browser), "a sold ticket is no longer for sale"

    # Resold from "My tickets": above what was paid is refused, at it the page says it is listed.
    def resell(price):
        browser.get(base_url + "/tickets/held")
        fill(browser, price=price)
        browser.find_element(By.XPATH, "//button[text()='Resell']").click()
    resell("42.51")
    wait_for(browser, EC.visibility_of_element_located((By.ID, "form-errors")))
    assert "Price exceeds the resale cap" in text(browser)
    resell("42.50")
    wait_for(browser, lambda d: "Listed for resale at $42.50" in text(d))
    assert browser.find_element(By.XPATH, "//button[text()='Withdraw the resale']")
    shot(browser, "13-resale-listed")
    browser.get(searched)
    assert results(browser) == [title], "the resale is for sale"
    browser.set_window_size(390, 800)
    browser.get(ticket_link)
    shot(browser, "12-phone-width")


def test_bad_input_unpaid_orders_and_signed_out_visitors(browser, base_url):
    browser.get(base_url + "/orders")
    wait_for(browser, lambda d: "/auth/signin" in d.current_url)
    shot(browser, "08-sign-in-required")

    browser.get(base_url + "/auth/signup")
    fill(browser, email=f"short-{uuid.uuid4().hex[:8]}@example.com", password="ab")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, EC.visibility_of_element_located((By.ID, "form-errors")))
    assert "Password must be between 4 and 20 characters" in text(browser)
    shot(browser, "09-sign-up-error")

    browser.get(base_url + "/no-such-page")
    assert "Page not found" in text(browser)
    shot(browser, "10-not-found")

    # An order left unpaid: the countdown ends in "Order expired" (the test stack's window is a few seconds).
    sign_up(browser, base_url, f"seller2-{uuid.uuid4().hex[:8]}@example.com")
    unpaid = f"Unpaid {uuid.uuid4().hex[:6]}"
    sell(browser, base_url, unpaid, "5")
    ticket_link = listing_row(browser, unpaid).find_element(By.XPATH, "./td/a").get_attribute("href")
    browser.delete_all_cookies()
    sign_up(browser, base_url, f"buyer2-{uuid.uuid4().hex[:8]}@example.com")
    purchase(browser, ticket_link)
    wait_for(browser, lambda d: "Order expired" in text(d), timeout=int(os.environ.get("EXPIRATION_WINDOW_SECONDS", "900")) + 5)
    shot(browser, "11-order-expired")

    browser.get(base_url + "/docs")
    shot(browser, "12-api-reference")
    browser.get(base_url + "/auth/signout")
    shot(browser, "12-sign-out")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, lambda d: "Sign in" in d.find_element(By.TAG_NAME, "header").text)


def test_search_sort_and_page_the_listing_then_manage_my_listings(browser, base_url):
    seller, buyer = account(base_url), account(base_url)
    word = "s" + uuid.uuid4().hex[:10]
    for title, price in ((f"{word} Jazz", 30), (f"{word} Rock", 12.5), (f"{word} Opera", 80)):
        list_ticket(seller, price=price, title=title)

    # The search form: words, a price written as people write it, a sort; the results keep the form's values.
    browser.get(base_url)
    fill(browser, q=word.upper(), minPrice="$15")
    Select(browser.find_element(By.ID, "sort")).select_by_visible_text("Highest price first")
    browser.find_element(By.CSS_SELECTOR, "form[role=search] button").click()
    wait_for(browser, lambda d: "sort=-price" in d.current_url)
    assert results(browser) == [f"{word} Opera", f"{word} Jazz"]
    assert browser.find_element(By.ID, "q").get_attribute("value") == word.upper()
    assert browser.find_element(By.ID, "minPrice").get_attribute("value") == "$15"
    assert Select(browser.find_element(By.ID, "sort")).first_selected_option.text == "Highest price first"
    shot(browser, "14-search-results")
    browser.get(f"{base_url}/?q={word}&sort=price")
    assert results(browser) == [f"{word} Rock", f"{word} Jazz", f"{word} Opera"]

    browser.get(f"{base_url}/?q=nothing{word}")
    assert results(browser) == [] and "No tickets match this search" in text(browser)
    shot(browser, "15-search-nothing")
    browser.get(f"{base_url}/?q={word}&minPrice=abc&maxPrice=5")
    wait_for(browser, EC.visibility_of_element_located((By.ID, "form-errors")))
    assert "Lowest price must be an amount" in text(browser) and results(browser) == []
    browser.get(f"{base_url}/?q={word}&minPrice=20&maxPrice=5")
    assert "Highest price must not be less than the lowest price" in text(browser)
    shot(browser, "15-search-error")

    # Twenty to a page, newest first: Next and Previous, with no ticket missed or shown twice.
    many = "m" + uuid.uuid4().hex[:10]
    other = account(base_url)  # whose listings would otherwise fill a page of the seller's own below
    made = [list_ticket(other, price=5, title=f"{many} {index:02d}")["title"] for index in range(23)]
    browser.get(f"{base_url}/?q={many}&sort=newest")
    first = results(browser)
    assert first == made[::-1][:20]
    browser.find_element(By.LINK_TEXT, "Next page").click()
    wait_for(browser, lambda d: results(d) != first)
    assert results(browser) == made[::-1][20:] and browser.find_elements(By.LINK_TEXT, "Next page") == []
    shot(browser, "16-search-page-2")
    browser.find_element(By.LINK_TEXT, "Previous page").click()
    wait_for(browser, lambda d: results(d) == first)
    assert browser.find_elements(By.LINK_TEXT, "Previous page") == []
    assert Select(browser.find_element(By.ID, "sort")).first_selected_option.text == "Newest first"

    # My listings: each listing's state, and Edit only for those on sale. The reservation comes last: the test stack's
    # orders expire within seconds.
    sign_in(browser, base_url, seller.email)
    paid = pay(base_url, buyer, reserved(buyer, list_ticket(seller, price=9, title=f"{word} Sold")["id"])["id"])
    assert paid.status_code == 201, paid.text
    reserved(buyer, list_ticket(seller, price=7, title=f"{word} Reserved")["id"])

    def states(d):
        d.get(base_url + "/tickets/listed")
        return {row.find_element(By.XPATH, "./td[1]").text: row.find_element(By.CSS_SELECTOR, ".state").text
                for row in d.find_elements(By.CSS_SELECTOR, "#listings tbody tr")}
    wait_for(browser, lambda d: (lambda shown: shown.get(f"{word} Sold") == "Sold"
                                 and shown.get(f"{word} Reserved") == "Reserved" and shown.get(f"{word} Rock") == "On sale")(states(d)))
    for title in (f"{word} Sold", f"{word} Reserved"):
        assert listing_row(browser, title).find_elements(By.LINK_TEXT, "Edit") == []
    shot(browser, "17-my-listings")

    listing_row(browser, f"{word} Rock").find_element(By.LINK_TEXT, "Edit").click()
    wait_for(browser, lambda d: d.current_url.endswith("/edit"))
    assert browser.find_element(By.ID, "title").get_attribute("value") == f"{word} Rock"
    assert browser.find_element(By.ID, "price").get_attribute("value") == "$12.50"
    fill(browser, price="twelve")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, EC.visibility_of_element_located((By.ID, "form-errors")))
    assert "Price must be a number" in text(browser)
    shot(browser, "18-edit-listing")
    fill(browser, title=f"{word} Rock and Roll", price="14")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert "$14.00" in listing_row(browser, f"{word} Rock and Roll").text
    browser.get(f"{base_url}/?q={word}+roll")
    assert results(browser) == [f"{word} Rock and Roll"], "the edit is what buyers find"
