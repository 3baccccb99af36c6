"""The API docs page: Swagger UI from the swagger-ui-bundle package, served by the service itself, public
like the document it shows, loading nothing from elsewhere, and listing every operation in a browser."""

from __future__ import annotations

import re

import pytest
import requests
from helpers import API_KEY

from dicebox.service.docs_routes import ASSETS, CONTENT_SECURITY_POLICY


def _operations(document: dict) -> list[str]:
    return [op["operationId"] for item in document["paths"].values() for op in item.values()]


def test_the_page_is_public_html_that_loads_only_same_origin_files(live_service):
    url, _app = live_service
    page = requests.get(url + "/api/v1/docs", timeout=10)  # no key, like /api/v1/openapi.json
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "connect-src 'self'" in CONTENT_SECURITY_POLICY
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert references, page.text
    for reference in references:
        # Nothing absolute or protocol-relative: every file resolves under /api/v1/docs/ on this origin.
        assert not re.match(r"([a-z]+:)?//", reference), reference
        assert reference.startswith("docs/"), reference
        asset = requests.get(f"{url}/api/v1/{reference}", timeout=10)
        assert asset.status_code == 200, reference
        assert asset.headers["Content-Type"] == ASSETS[reference.removeprefix("docs/")]
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
    assert "docs/swagger-ui-bundle.js" in references and "docs/swagger-ui.css" in references


def test_the_files_are_swagger_ui_from_its_package(live_service):
    import swagger_ui_bundle

    url, _app = live_service
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        served = requests.get(f"{url}/api/v1/docs/{name}", timeout=10).content
        assert served == swagger_ui_bundle.swagger_ui_path.joinpath(name).read_bytes(), name
    start = requests.get(f"{url}/api/v1/docs/start.js", timeout=10).text
    assert "SwaggerUIBundle(" in start and "validatorUrl: null" in start  # no document sent to swagger.io


@pytest.mark.parametrize(
    "path",
    ["/api/v1/docs/index.html", "/api/v1/docs/swagger-ui.js.map", "/api/v1/docs/..%2fopenapi.json", "/api/v1/docs/x/y"],
)
def test_only_the_page_files_are_served(live_service, path):
    url, _app = live_service
    answer = requests.get(url + path, timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_the_rest_of_the_api_still_needs_the_key(live_service):
    url, _app = live_service
    assert requests.get(url + "/api/v1/datasets", timeout=10).status_code == 401
    assert requests.get(url + "/api/v1/docs/../datasets", timeout=10).status_code == 401  # requests normalises ..


def test_the_document_lists_the_docs_routes(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["paths"]["/api/v1/docs"]["get"]["security"] == []
    assert document["paths"]["/api/v1/docs/{name}"]["get"]["parameters"][0]["schema"]["enum"] == list(ASSETS)


def test_chromium_shows_every_operation_and_tries_one_with_the_key(browser, live_service):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _app = live_service
    document = requests.get(url + "/api/v1/openapi.json", timeout=10).json()
    # Record any request the policy blocks and any request to another origin.
    browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__blocked = [];"
            "document.addEventListener('securitypolicyviolation', e => window.__blocked.push(e.blockedURI + ' ' + e.violatedDirective));"
        },
    )
    browser.get(url + "/api/v1/docs")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == len(_operations(document)))
    shown = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-operation-id")}
    assert shown == set(_operations(document))
    assert document["info"]["title"] in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    assert browser.execute_script("return window.__blocked") == []
    origins = browser.execute_script("return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) == {url}, origins

    # Authorize with the key, then try listing the data sets: the page calls the API on this origin.
    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".modal-ux input[type=text]"))
    browser.find_elements(By.CSS_SELECTOR, ".modal-ux input[type=text]")[0].send_keys(API_KEY)
    browser.find_elements(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .authorize")[0].click()
    browser.find_element(By.CSS_SELECTOR, ".modal-ux .close-modal").click()
    operation = browser.find_element(By.ID, "operations-native-listDatasets")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda d: operation.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    operation.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    operation.find_element(By.CSS_SELECTOR, ".execute").click()
    answer = ".live-responses-table tbody .response-col_status"
    wait.until(lambda d: operation.find_elements(By.CSS_SELECTOR, answer))
    status = operation.find_element(By.CSS_SELECTOR, answer).text
    assert status.strip() == "200", status
    assert '"datasets"' in operation.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
    assert browser.execute_script("return window.__blocked") == []
