"""The whole buyer and seller journey in headless Chromium, through nginx, against the real services and the
Stripe emulator's Stripe.js. Each page is saved as a screenshot in $SCREENSHOT_DIR (default .screenshots/)."""
import os
import re
import time
import uuid

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

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
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


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


def sign_up(driver, base, email, password="secret"):
    driver.get(base + "/auth/signup")
    fill(driver, email=email, password=password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: email in d.find_element(By.TAG_NAME, "header").text)


def sell(driver, base, title, price):
    driver.get(base + "/tickets/new")
    fill(driver, title=title, price=price)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


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
    wait_for(browser, lambda d: d.current_url.rstrip("/") == base_url)
    # Listed, with the markup in its title shown as text, not interpreted.
    wait_for(browser, lambda d: title in text(d))
    assert browser.find_elements(By.XPATH, "//td/b") == []
    assert "$42.50" in text(browser)
    shot(browser, "03-listed")
    ticket_link = browser.find_element(By.XPATH, f"//tr[td[text()={repr(title)}]]//a").get_attribute("href")

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
    browser.get(base_url)
    assert title not in text(browser), "a sold ticket is no longer for sale"

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
    browser.get(base_url)
    assert title in text(browser), "the resale is for sale"
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
    sell(browser, base_url, "Unpaid", "5")
    wait_for(browser, lambda d: d.current_url.rstrip("/") == base_url)
    ticket_link = browser.find_element(By.XPATH, "//tr[td[text()='Unpaid']]//a").get_attribute("href")
    browser.delete_all_cookies()
    sign_up(browser, base_url, f"buyer2-{uuid.uuid4().hex[:8]}@example.com")
    purchase(browser, ticket_link)
    wait_for(browser, lambda d: "Order expired" in text(d), timeout=int(os.environ.get("EXPIRATION_WINDOW_SECONDS", "900")) + 5)
    shot(browser, "11-order-expired")

    browser.get(base_url + "/auth/signout")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, lambda d: "Sign in" in d.find_element(By.TAG_NAME, "header").text)
