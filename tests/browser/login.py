"""Completes kubelogin's authorization-code login in headless Chromium.

usage: login.py URL EMAIL PASSWORD

URL is what kubelogin asked to open (its local server, which redirects to Dex). Fills
Dex's local-connector form, submits it, and waits until Dex has redirected back to
kubelogin's redirect URI (http://localhost:8000 or :18000). Prints the pages it went
through to stderr; exits non-zero with the page source on any failure.
"""

import os
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 60


def log(msg):
    print(f"login.py: {msg}", file=sys.stderr, flush=True)


def main():
    url, email, password = sys.argv[1:4]
    chromium = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    chromedriver = os.environ.get(
        "CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver"
    )
    profile = tempfile.mkdtemp(prefix="kcpenv-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--ignore-certificate-errors",  # Dex's certificate; kubelogin itself checks the CA
        f"--user-data-dir={profile}",
    ]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(TIMEOUT)
    try:
        log(f"open {url}")
        driver.get(url)
        wait = WebDriverWait(driver, TIMEOUT)
        # With one connector Dex goes straight to its form; with several, pick `local`.
        wait.until(
            lambda d: d.find_elements(By.NAME, "login")
            or d.find_elements(By.CSS_SELECTOR, "a[href*='/auth/local']")
        )
        links = driver.find_elements(By.CSS_SELECTOR, "a[href*='/auth/local']")
        if links and not driver.find_elements(By.NAME, "login"):
            links[0].click()
            wait.until(EC.presence_of_element_located((By.NAME, "login")))
        log(f"login form at {driver.current_url.split('?')[0]}")
        driver.find_element(By.NAME, "login").send_keys(email)
        driver.find_element(By.NAME, "password").send_keys(password)
        buttons = driver.find_elements(By.CSS_SELECTOR, "button[type='submit'], #submit-login")
        if buttons:
            buttons[0].click()
        else:
            driver.find_element(By.NAME, "password").submit()
        wait.until(
            lambda d: d.current_url.startswith(("http://localhost:8000", "http://localhost:18000"))
            or d.find_elements(By.CSS_SELECTOR, "#login-error, .dex-error-box")
        )
        if not driver.current_url.startswith("http://localhost:"):
            raise RuntimeError("Dex did not accept the login")
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
        log(f"redirected to {driver.current_url.split('?')[0]}: "
            f"{driver.find_element(By.TAG_NAME, 'body').text.strip()[:200]!r}")
    except Exception as e:  # noqa: BLE001 - report whatever went wrong, with the page
        log(f"failed: {type(e).__name__}: {e}")
        try:
            log(f"at {driver.current_url}\n{driver.page_source[:4000]}")
        except Exception:  # noqa: BLE001
            pass
        sys.exit(1)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
