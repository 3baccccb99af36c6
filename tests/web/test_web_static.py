"""The web client's files: public, shipped in the package, with a policy that keeps the page on its origin."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import requests
from helpers import API_KEY

from dicebox.service.web_routes import ASSETS, CONTENT_SECURITY_POLICY


def test_the_page_and_its_assets_are_in_the_package():
    files = resources.files("dicebox.service.web")
    for name in ASSETS:
        assert files.joinpath(name).is_file(), name
    html = files.joinpath("index.html").read_text(encoding="utf-8")
    # Everything the page loads comes from its own origin: no http(s):// or protocol-relative URLs.
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)


def test_pip_install_ships_the_web_files(tmp_path):
    """setup.py's build step (what pip install runs) copies every page file into the package."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[2]
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=root,
        check=True,
        capture_output=True,
    )
    shipped = tmp_path / "dicebox" / "service" / "web"
    for name in ASSETS:
        assert (shipped / name).read_bytes() == (root / "dicebox" / "service" / "web" / name).read_bytes(), name


def test_page_is_public_and_guarded_by_its_headers(live_service):
    url, _app = live_service
    page = requests.get(url + "/", timeout=10)  # no key: the page must load to ask for it
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY and "connect-src 'self'" in CONTENT_SECURITY_POLICY
    assert '<script type="module" src="/web/app.js">' in page.text
    for name, mimetype in ASSETS.items():
        asset = requests.get(f"{url}/web/{name}", timeout=10)
        assert asset.status_code == 200, name
        assert asset.headers["Content-Type"] == mimetype
        assert asset.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/web/secret.txt", "/web/..%2fapp.py", "/web/__init__.py", "/web/"])
def test_only_the_page_files_are_served(live_service, path):
    url, _app = live_service
    answer = requests.get(url + path, timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_the_api_still_needs_the_key(live_service):
    url, _app = live_service
    assert requests.get(url + "/api/v1/datasets", timeout=10).status_code == 401
    answer = requests.get(url + "/api/v1/datasets", headers={"API-ACCESS-KEY": API_KEY}, timeout=10)
    assert answer.status_code == 200


def test_the_key_never_goes_into_a_url_or_the_console():
    source = resources.files("dicebox.service.web").joinpath("app.js").read_text(encoding="utf-8")
    assert "sessionStorage.setItem(KEY_STORAGE" in source
    assert "localStorage" not in source
    assert not re.search(r"console\.\w+\([^)]*key", source, re.IGNORECASE)
    assert not re.search(r"[?&](api_?key|key)=", source, re.IGNORECASE)
