"""The web UI: CSRF, sessions, permissions (Flask test client), and a real browser
(Debian's chromium, headless, driven by Selenium): log in, filter, select three machines,
run a bulk action one of them cannot take, see two successes and one failure with its
reason, open a machine page; screenshots of the dashboard and machines page are kept in
test-artifacts/ui/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from baremetal.models import NodeStatus
from baremetal.store import schema as t
from baremetal.store.machines import NewMachine, transition_machines
from baremetal.store.references import create_tag

from .conftest import add_ready
from .live import start_region, stop_region

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"


def _csrf(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def _login(client, username: str, password: str):  # type: ignore[no-untyped-def]
    page = client.get("/MAAS/accounts/login")
    return client.post("/MAAS/accounts/login", data={
        "username": username, "password": password, "csrf_token": _csrf(page.text)})


def test_pages_need_a_session_and_the_cookie_is_httponly(api):
    assert api.client.get("/MAAS/machines").headers["Location"].startswith(
        "/MAAS/accounts/login")
    bad = _login(api.client, "admin", "wrong")
    assert bad.status_code == 401 and "Wrong username or password" in bad.text
    done = _login(api.client, "admin", "admin-password")
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert api.client.get("/MAAS/machines").status_code == 200


def test_a_form_post_without_the_csrf_token_is_refused(api):
    _login(api.client, "admin", "admin-password")
    system_id = api.call("GET", "machines/", api.admin_key).get_json()[0]["system_id"]
    for token in (None, "forged"):
        data = {"action": "mark_broken", "system_id": system_id}
        if token:
            data["csrf_token"] = token
        refused = api.client.post("/MAAS/machines/action", data=data)
        assert refused.status_code == 400 and "CSRF token" in refused.text
    assert api.call("GET", f"machines/{system_id}/", api.admin_key).get_json()[
        "status_name"] == "Ready"  # nothing happened
    no_token_login = api.client.post("/MAAS/accounts/login", data={
        "username": "admin", "password": "admin-password"})
    assert no_token_login.status_code == 400


def test_a_non_admin_cannot_reach_admin_pages(api):
    _login(api.client, "alice", "alice-password")
    assert api.client.get("/MAAS/machines/add").status_code == 403
    settings = api.client.get("/MAAS/settings")
    assert settings.status_code == 200 and "Enlistment token" not in settings.text
    rotate = api.client.post("/MAAS/settings/enlistment-token",
                             data={"csrf_token": _csrf(settings.text)})
    assert rotate.status_code == 403
    # Bulk admin actions fail per machine with the API's reason.
    page = api.client.get("/MAAS/machines")
    ids = re.findall(r'name="system_id" value="([^"]+)"', page.text)
    result = api.client.post("/MAAS/machines/action", data={
        "csrf_token": _csrf(page.text), "action": "commission", "system_id": ids[:1]})
    assert "0 succeeded, 1 failed" in result.text and "administrator" in result.text


def test_a_bulk_action_on_everything_that_matches_the_filter(api):
    _login(api.client, "admin", "admin-password")
    page = api.client.get("/MAAS/machines?zone=z1").text
    assert "2 matching" in page
    result = api.client.post("/MAAS/machines/action", data={
        "csrf_token": _csrf(page), "action": "mark_broken", "select_all": "matching",
        "zone": "z1", "comment": "rack C power feed"})
    assert "2 succeeded, 0 failed" in result.text
    machines = api.call("GET", "machines/", api.admin_key).get_json()
    assert sorted((m["zone"]["name"], m["status_name"]) for m in machines) == [
        ("default", "Ready"), ("default", "Ready"), ("z1", "Broken"), ("z1", "Broken")]


def test_admins_add_users_from_settings(api):
    _login(api.client, "admin", "admin-password")
    page = api.client.get("/MAAS/settings").text
    api.client.post("/MAAS/settings/users", data={
        "csrf_token": _csrf(page), "username": "carol", "password": "carol-password",
        "email": "c@example.com"})
    again = api.client.post("/MAAS/settings/users", follow_redirects=True, data={
        "csrf_token": _csrf(page), "username": "carol", "password": "carol-password"})
    assert "already exists" in again.text and "carol" in again.text
    api.client.post("/MAAS/accounts/logout", data={"csrf_token": _csrf(page)})
    assert _login(api.client, "carol", "carol-password").status_code == 302
    page = api.client.get("/MAAS/settings").text
    refused = api.client.post("/MAAS/settings/users", data={
        "csrf_token": _csrf(page), "username": "mallory", "password": "mallory-password"})
    assert refused.status_code == 403


def test_add_machine_form_comes_from_the_driver_schemas(api):
    _login(api.client, "admin", "admin-password")
    form = api.client.get("/MAAS/machines/add").text
    assert 'name="ipmi__power_pass" type="password"' in form
    assert 'name="redfish__power_address"' in form and 'name="webhook__power_on_uri"' in form
    refused = api.client.post("/MAAS/machines/add", data={
        "csrf_token": _csrf(form), "mac_address": "52:54:00:00:99:01", "power_type": "ipmi",
        "ipmi__power_user": "admin"})
    assert refused.status_code == 400 and "power_address" in refused.text
    added = api.client.post("/MAAS/machines/add", data={
        "csrf_token": _csrf(form), "hostname": "web1", "mac_address": "52:54:00:00:99:01",
        "power_type": "ipmi", "ipmi__power_address": "10.0.0.99",
        "ipmi__power_user": "admin", "ipmi__power_pass": "pw"})
    assert added.status_code == 302
    assert "web1" in api.client.get(added.headers["Location"]).text


@pytest.fixture
def region(tmp_path):
    region = start_region(tmp_path, command="region")
    with region.store.write() as conn:
        create_tag(conn, "rowc", "row C")
    ids = add_ready(region.store, [NewMachine(hostname=f"rowc-{n}", cpu_count=4, memory=8192,
                                              tags=["rowc"]) for n in range(3)]
                    + [NewMachine(hostname=f"other-{n}") for n in range(5)])
    with region.store.write() as conn:  # two are broken: they can be marked fixed
        rows = conn.execute(select(t.machines.c.id).where(
            t.machines.c.hostname.in_(["rowc-0", "rowc-1"]))).scalars().all()
        transition_machines(conn, rows, NodeStatus.BROKEN, comment="fans")
    yield region, ids
    stop_region(region)


def test_a_real_browser_runs_a_bulk_action(region):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    live, _ = region
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    browser.implicitly_wait(5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    def navigated(part: str) -> None:  # the next page is there, not the old one
        WebDriverWait(browser, 15).until(lambda b: part in b.current_url)

    try:
        browser.get(live.url)
        browser.find_element(By.ID, "username").send_keys("admin")
        browser.find_element(By.ID, "password").send_keys("admin-password")
        browser.find_element(By.ID, "login").click()
        WebDriverWait(browser, 15).until(lambda b: b.current_url.endswith("/MAAS/"))
        assert browser.find_element(By.ID, "by-status").is_displayed()
        browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
        browser.find_element(By.LINK_TEXT, "Machines").click()
        navigated("/MAAS/machines")
        Select(browser.find_element(By.ID, "filter-tag")).select_by_visible_text("rowc")
        browser.find_element(By.ID, "apply-filters").click()
        navigated("tag=rowc")
        assert browser.find_element(By.ID, "total").text == "3 matching"
        browser.save_screenshot(str(ARTIFACTS / "machines.png"))
        boxes = browser.find_elements(By.CSS_SELECTOR, "input.pick")
        assert len(boxes) == 3
        for box in boxes:
            box.click()
        Select(browser.find_element(By.ID, "bulk-action")).select_by_visible_text("Mark fixed")
        browser.find_element(By.ID, "bulk-apply").click()
        navigated("/MAAS/machines/action")
        assert browser.find_element(By.ID, "summary").text == "2 succeeded, 1 failed"
        failed = browser.find_element(By.CSS_SELECTOR, "#results tr.bad")
        assert "rowc-2" in failed.text
        assert "Can't mark fixed a machine that is in the 'Ready' state" in failed.text
        target = failed.get_attribute("data-system-id")
        failed.find_element(By.TAG_NAME, "a").click()
        navigated(f"/MAAS/machines/{target}")
        assert browser.find_element(By.ID, "status").text == "Ready"
        assert "rowc-2" in browser.find_element(By.TAG_NAME, "h1").text
        browser.save_screenshot(str(ARTIFACTS / "machine.png"))
    finally:
        browser.quit()


def test_settings_show_images_and_the_progress_of_image_work(api):
    from baremetal.store.images import start_activity, update_activity

    with api.store.write() as conn:
        start_activity(conn, "import", "downloading root.squashfs", total_bytes=300 << 20)
        update_activity(conn, "import", done_bytes=120 << 20)
    _login(api.client, "admin", "admin-password")
    page = api.client.get("/MAAS/settings").text
    section = page[page.index('id="images"'):]
    for name in ("debian/bookworm", "ubuntu/jammy", "ubuntu/noble"):
        assert f"<td>{name}</td><td>amd64/generic</td><td>Generated</td>" in section
    assert ">ready<" in section
    assert "import: running &mdash; downloading root.squashfs (120.0 MiB of 300.0 MiB)" \
        in section


def test_an_admin_shapes_interfaces_on_the_machine_page(api):
    _login(api.client, "admin", "admin-password")
    machines = api.call("GET", "machines/", api.admin_key).get_json()
    system_id = machines[0]["system_id"]
    page = api.client.get(f"/MAAS/machines/{system_id}").text
    section = page[page.index('id="interfaces"'):]
    assert "STATIC on 10.10.0.0/24: <span class=\"mono\">10.10.0.10</span>" in section
    nic = machines[0]["interface_set"][0]["id"]
    post = lambda **form: api.client.post(  # noqa: E731
        f"/MAAS/machines/{system_id}/interfaces", data={"csrf_token": _csrf(page), **form})
    linked = post(action="link_subnet", interface=str(nic), mode="static", subnet="1")
    assert "link subnet: done" in linked.text, linked.text
    refused = post(action="link_subnet", interface=str(nic), mode="static", subnet="1",
                   ip_address="10.10.0.10")
    assert "ip_address: 10.10.0.10 is already in use." in refused.text
    bond = post(action="create_bond", name="bond0", parents=[str(nic)],
                bond_mode="balance-rr")
    assert "parents: a bond needs at least two interfaces." in bond.text
    again = api.client.get(f"/MAAS/machines/{system_id}").text
    assert "10.10.0.14" in again[again.index('id="interfaces"'):]  # the next free one
    # Without a CSRF token nothing happens; a non-admin sees no forms and is refused.
    assert api.client.post(f"/MAAS/machines/{system_id}/interfaces", data={
        "action": "unlink_subnet", "interface": str(nic)}).status_code == 400
    api.client.get("/MAAS/accounts/logout")
    _login(api.client, "alice", "alice-password")
    page = api.client.get(f"/MAAS/machines/{system_id}").text
    assert 'id="bond-form"' not in page
    denied = api.client.post(f"/MAAS/machines/{system_id}/interfaces", data={
        "csrf_token": _csrf(page), "action": "unlink_subnet", "interface": str(nic),
        "id": "1"})
    assert "have permission to unlink interfaces of this machine" in denied.text
