"""Safe defaults: traversal, auth, cross-site refusal, upload limits, what /view will serve."""
from __future__ import annotations

import os

import pytest
from websockets.exceptions import InvalidStatus

from tests.fixtures.server import echo_prompt, ws_connect
from tests.server.test_server_api import png_bytes, upload

TRAVERSALS = [
    "/view?filename=../secret.txt&type=input",
    "/view?filename=secret.txt&subfolder=..&type=input",
    "/view?filename=secret.txt&subfolder=../&type=output",
    "/view?filename=%2e%2e%2fsecret.txt&type=input",
    "/view?filename=..%2Fsecret.txt&type=temp",
    "/view?filename=secret.txt&subfolder=%2e%2e&type=input",
    "/view?filename=/etc/passwd&type=input",
    "/view?filename=passwd&subfolder=/etc&type=input",
    "/view?filename=secret.txt%00.png&type=input",
    "/view?filename=link-out.txt&type=input",  # a symlink pointing out of input/
    "/view?filename=secret.txt&subfolder=linkdir&type=input",  # a symlinked folder pointing out
    "/userdata/..%2F..%2Fsecret.txt",
    "/userdata/..%2Fplexus_queue.sqlite3",
    "/userdata/%2Fetc%2Fpasswd",
    "/api/userdata/x%00.json",
    "/userdata?dir=..",
    "/userdata?dir=%2E%2E%2F%2E%2E",
    "/editor/..%2F..%2Fmain.py",
    "/editor/%2e%2e/%2e%2e/main.py",
    "/lib/litegraph/..%2F..%2F..%2F..%2F..%2Fmain.py",
]


@pytest.fixture(scope="module")
def secret_layout(plexus_server):
    base = plexus_server.base_dir
    (base / "secret.txt").write_text("top secret")
    link = base / "input" / "link-out.txt"
    if not link.exists():
        os.symlink(base / "secret.txt", link)
    linkdir = base / "input" / "linkdir"
    if not linkdir.exists():
        os.symlink(base, linkdir)
    return plexus_server


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_attempts_are_refused(secret_layout, path):
    result = secret_layout.request("GET", path)
    assert result.status in (400, 403, 404), (path, result.status)
    assert b"top secret" not in result.body and b"SQLite" not in result.body and b"root:" not in result.body


def test_traversal_on_write_routes(secret_layout):
    server = secret_layout
    for subfolder in ("../", "../../tmp", "/tmp", "linkdir"):
        result = upload(server, png_bytes(), "x.png", subfolder=subfolder)
        assert result.status in (400, 403), subfolder
    escaped = upload(server, png_bytes(), "../../escaped.png")
    assert escaped.status in (200, 400) and not (server.base_dir / "escaped.png").exists()
    assert server.request("POST", "/userdata/..%2F..%2Fevil.json", b"{}").status in (400, 403)
    assert server.request("DELETE", "/userdata/..%2F..%2Fsecret.txt").status in (400, 403)
    assert server.request("POST", "/userdata/a.json/move/..%2F..%2Fmoved.json").status in (400, 403, 404)
    assert (server.base_dir / "secret.txt").exists() and not (server.base_dir / "evil.json").exists()


def test_view_never_serves_html_or_js_as_such(plexus_server):
    output = plexus_server.base_dir / "output"
    (output / "page.html").write_text("<script>alert(1)</script>")
    (output / "code.js").write_text("alert(1)")
    for name in ("page.html", "code.js"):
        result = plexus_server.request("GET", f"/view?filename={name}")
        assert result.status == 200
        assert result.headers["Content-Type"] == "application/octet-stream"
        assert result.headers["Content-Disposition"].startswith("attachment")
        assert result.headers["X-Content-Type-Options"] == "nosniff"


def test_uploads_are_verified_as_images(plexus_server):
    server = plexus_server
    result = upload(server, b"<html>not an image</html>", "fake.png")
    assert result.status == 400 and not (server.base_dir / "input" / "fake.png").exists()
    truncated = png_bytes(size=(64, 64))[:60]
    assert upload(server, truncated, "trunc.png").status == 400
    assert not (server.base_dir / "input" / "trunc.png").exists()
    assert upload(server, png_bytes(), "nul\x00.png").status == 400


def test_upload_size_cap(server_factory):
    server = server_factory("--max-upload-size", "0.05")  # 50 KiB
    big = os.urandom(80 * 1024)
    assert upload(server, big, "big.png").status == 413
    assert upload(server, png_bytes(), "small.png").status == 200
    assert server.get_json("/features")["max_upload_size"] == int(0.05 * 1024 * 1024)


def test_cross_site_requests_are_refused(plexus_server):
    server = plexus_server
    evil = {"Origin": "http://evil.example"}
    assert server.request("POST", "/prompt", {"prompt": echo_prompt()}, evil).status == 403
    assert server.request("GET", "/queue", headers=evil).status == 403
    assert server.request("POST", "/interrupt", headers={"Origin": "http://127.0.0.1:1"}).status == 403
    assert server.request("POST", "/interrupt", headers={"Origin": "null"}).status == 403
    same = {"Origin": f"http://127.0.0.1:{server.port}"}
    assert server.request("GET", "/queue", headers=same).status == 200
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(server, "evil-ws", headers=evil)
    assert refused.value.response.status_code == 403


def test_dns_rebinding_host_is_refused(plexus_server):
    server = plexus_server
    rebound = {"Host": f"evil.example:{server.port}", "Origin": f"http://evil.example:{server.port}"}
    assert server.request("GET", "/queue", headers=rebound).status == 403
    assert server.request("GET", "/queue", headers={"Host": f"evil.example:{server.port}"}).status == 403
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", "127.0.0.1"):
        assert server.request("GET", "/queue", headers={"Host": host}).status == 200


def test_cors_header_allows_cross_origin(server_factory):
    server = server_factory("--enable-cors-header", "http://app.example")
    evil = {"Origin": "http://app.example"}
    result = server.request("GET", "/queue", headers=evil)
    assert result.status == 200 and result.headers["Access-Control-Allow-Origin"] == "http://app.example"
    preflight = server.request("OPTIONS", "/prompt", headers=dict(evil, **{"Access-Control-Request-Method": "POST"}))
    assert preflight.status == 200 and "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_token_auth(server_factory):
    server = server_factory("--auth-token", "s3cret", token="s3cret")
    assert server.request("GET", "/queue", headers={"no_auth": True}).status == 401
    assert server.request("GET", "/queue", headers={"Authorization": "Bearer wrong"}).status == 401
    assert server.request("POST", "/prompt", {"prompt": echo_prompt()}, {"no_auth": True}).status == 401
    assert server.request("GET", "/view?filename=x.png", headers={"no_auth": True}).status == 401
    assert server.request("GET", "/api/queue").status == 200
    page = server.request("GET", "/?token=s3cret", headers={"no_auth": True})
    assert page.status == 200 and "plexus_token=s3cret" in page.headers.get("Set-Cookie", "")
    assert "HttpOnly" in page.headers["Set-Cookie"]
    assert server.request("GET", "/queue", headers={"no_auth": True, "Cookie": "plexus_token=s3cret"}).status == 200
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(server, "no-token")
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        ws_connect(server, "bad-token", token="nope")
    ws = ws_connect(server, "good", token="s3cret")
    ws.close()


def test_listen_without_token_warns_and_keeps_the_host_check(server_factory, tmp_path):
    server = server_factory("--listen", "0.0.0.0", "--allow-host", "plexus.lan")
    assert "without --auth-token" in server.log()
    # listening beyond loopback without a token: IP addresses, this machine's name and --allow-host
    # names are answered; any other name may be a DNS-rebinding page (issue 18, point 8)
    assert server.request("GET", "/queue", headers={"Host": f"plexus.lan:{server.port}"}).status == 200
    assert server.request("GET", "/queue", headers={"Host": f"10.1.2.3:{server.port}"}).status == 200
    refused = server.request("GET", "/queue", headers={"Host": f"evil.example:{server.port}"})
    assert refused.status == 403 and b"--allow-host" in refused.body
    quiet = server_factory("--listen", "0.0.0.0", "--auth-token", "t", token="t")
    assert "without --auth-token" not in quiet.log()
    # with a token, other names are expected (the token stops a foreign page)
    assert quiet.request("GET", "/queue", headers={"Host": f"evil.example:{quiet.port}"}).status == 200
    local = server_factory()
    assert "WARNING" not in local.log()
