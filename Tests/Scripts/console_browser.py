"""The dead-letter console in headless Chromium, as an operator uses it.

Run by ConsoleBrowserTests with a gateway whose dead-letter queue holds six `rejected` commands
(rej-0 … rej-5, OIFDE accepts them again) and two `invalid` ones (one, inv-script, whose body
holds a <script> and an authToken). Logs in, reads the counts, filters by class, opens a message,
replays three with the confirmation step, sees the outcome and the counts change, checks that the
script in a body is shown as text and runs nothing, and that a phone-width window needs no
sideways scrolling. Saves a screenshot at each step. Exits non-zero with a message on the first
failed check.
"""

import argparse
import os
import sys

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--shots", required=True)
    arguments = parser.parse_args()
    os.makedirs(arguments.shots, exist_ok=True)

    options = webdriver.ChromeOptions()
    # Debian's build and driver: Selenium must not try to download either.
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 30)

    def shot(name):
        driver.save_screenshot(os.path.join(arguments.shots, name + ".png"))

    def text(element_id):
        return driver.find_element(By.ID, element_id).text

    def rows():
        return driver.find_elements(By.CSS_SELECTOR, "#letters tbody tr")

    def shown(total, count):
        """The counts and the table both show the applied filter (the table renders after the counts)."""
        wait.until(lambda d: text("total") == total and len(rows()) == count)

    try:
        # Log in: the console sends an unknown browser to the login form.
        driver.get(arguments.url + "/console")
        wait.until(ready.url_contains("/console/login"))
        shot("1-login")
        driver.find_element(By.ID, "token").send_keys(arguments.token)
        driver.find_element(By.ID, "login").click()
        wait.until(ready.url_matches(r"/console$"))

        # The counts: a bar per class and reason.
        shown("8 of 8 match", 8)
        # Read in one script: the console's refresh re-renders the bars, and an element found
        # before a refresh is stale after it.
        def bars():
            return driver.execute_script(
                "return [...document.querySelectorAll('#bars .bar')].map(b => "
                "[b.dataset.class, (b.querySelector('.count') || {}).textContent || '', b.textContent])")
        try:
            wait.until(lambda d: [bar[1] for bar in bars() if bar[0] == "rejected"] == ["6"])
        except Exception:
            pass
        rejected = [bar for bar in bars() if bar[0] == "rejected"]
        check(len(rejected) == 1 and rejected[0][1] == "6", "one rejected bar counting 6: " + str([bar[2] for bar in bars()]))
        shot("2-counts")

        # Filter by class; the filter is kept in the URL.
        Select(driver.find_element(By.ID, "f-class")).select_by_visible_text("rejected")
        driver.find_element(By.ID, "apply").click()
        shown("6 of 8 match", 6)
        check("class=rejected" in driver.current_url, "the filter is in the URL: " + driver.current_url)

        # Open one message.
        driver.find_element(By.CSS_SELECTOR, "tr[data-id='rej-0'] button.link").click()
        wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed())
        check('"callId": "op-0"' in text("detail-body"), "the body, pretty-printed: " + text("detail-body"))
        check("x-failure-class" in text("detail-headers"), "the headers")
        check("rej-0" in text("detail-properties"), "the properties")
        shot("3-detail")
        driver.find_element(By.ID, "detail-close").click()

        # Select three and replay them, through the confirmation step.
        for key in ("rej-0", "rej-1", "rej-2"):
            driver.find_element(By.CSS_SELECTOR, "tr[data-id='%s'] input.pick" % key).click()
        check(text("selection") == "3 selected", "three selected: " + text("selection"))
        driver.find_element(By.ID, "replay").click()
        wait.until(lambda d: d.find_element(By.ID, "confirm").is_displayed())
        check(text("confirm-text").startswith("Replay 3 dead letters"), "the confirmation says how many: " + text("confirm-text"))
        listed = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#confirm-list li")]
        check(sorted(listed) == ["rej-0", "rej-1", "rej-2"], "the confirmation says which: " + str(listed))
        shot("4-confirm")
        driver.find_element(By.ID, "confirm-yes").click()
        wait.until(lambda d: d.find_element(By.ID, "outcome").is_displayed())
        check(text("outcome").startswith("Replayed 3, refused at the redrive cap 0, failed to publish 0"), "the outcome: " + text("outcome"))
        shown("3 of 5 match", 3)
        shot("5-replayed")

        # A body holding a script is shown as text and runs nothing. The replayed three come back
        # as dead letters once the gateway has refused them again: slow on a loaded machine.
        driver.find_element(By.ID, "clear").click()
        WebDriverWait(driver, 120).until(lambda d: text("total") == "5 of 5 match" and len(rows()) == 5)
        driver.find_element(By.CSS_SELECTOR, "tr[data-id='inv-script'] button.link").click()
        wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed())
        check("<script>alert('x')</script>" in text("detail-body"), "the script is shown as text: " + text("detail-body"))
        check('"authToken": "<masked>"' in text("detail-body"), "the authToken is masked")
        check(not driver.find_elements(By.CSS_SELECTOR, "#detail script, #letters script"), "no script element was made")
        try:
            alert = driver.switch_to.alert
            raise AssertionError("an alert ran: " + alert.text)
        except NoAlertPresentException:
            pass
        shot("6-script-as-text")
        driver.find_element(By.ID, "detail-close").click()
        driver.execute_script("window.scrollTo(0, 0)")
        shot("console")

        # A phone's width: readable without scrolling sideways (the table scrolls in its box).
        driver.set_window_size(390, 844)
        driver.refresh()
        shown("5 of 5 match", 5)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 1, "the page is %d px wider than the phone" % overflow)
        shot("7-phone")
    except TimeoutException:
        # Say what the page said: a failed API call shows in #problem, not in the traceback.
        shot("failure")
        problem = driver.find_elements(By.ID, "problem")
        raise AssertionError("timed out waiting; the page's problem line: %r, total: %r, rows: %d" % (
            problem[0].text if problem else None, text("total"), len(rows())))
    finally:
        driver.quit()
    print("console browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print("console browser check failed: %s" % failure, file=sys.stderr)
        sys.exit(1)
