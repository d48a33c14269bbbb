"""Resumable, verified downloads against a real HTTP server on 127.0.0.1 started by the tests."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from echoes.data.download import ChecksumError, DownloadError, Transfer, download

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB that is not all one byte
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class ArchiveServer(BaseHTTPRequestHandler):
    """``/file`` honours Range; ``/drop`` cuts the first transfer halfway; ``/norange`` ignores Range."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        if self.path == "/missing":
            self.send_error(404)
        elif self.path == "/broken":
            self.send_error(500)
        elif self.path in ("/file", "/drop", "/norange"):
            self._serve(ranged=self.path != "/norange")
        else:
            self.send_error(400)

    def _serve(self, ranged: bool):
        header = self.headers.get("Range")
        start = int(header.removeprefix("bytes=").rstrip("-")) if header and ranged else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.end_headers()
        first_drop = self.path == "/drop" and sum(p == "/drop" for p, _ in self.server.requests) == 1
        self.wfile.write(body[: len(body) // 2] if first_drop else body)
        if first_drop:
            self.close_connection = True


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ArchiveServer)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def quiet(retries: int) -> Transfer:
    return Transfer(retries=retries, progress=False, sleep=lambda seconds: None)


def fetch(server, tmp_path, paths, sha256=DIGEST, retries=2):
    urls = [server.url + p for p in paths]
    return download(urls, tmp_path / "UCF101.rar", sha256, quiet(retries))


def test_a_complete_download_is_verified_and_renamed(server, tmp_path):
    dest = fetch(server, tmp_path, ["/file"])
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["UCF101.rar"]


def test_a_connection_dropped_mid_file_resumes_with_a_range_request(server, tmp_path):
    dest = fetch(server, tmp_path, ["/drop"])
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0] == ("/drop", None)
    assert server.requests[1] == ("/drop", f"bytes={len(PAYLOAD) // 2}-")


def test_a_truncated_earlier_download_is_resumed_not_restarted(server, tmp_path):
    (tmp_path / "UCF101.rar.part").write_bytes(PAYLOAD[:1000])
    dest = fetch(server, tmp_path, ["/file"])
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/file", "bytes=1000-")]


def test_a_server_that_ignores_range_restarts_instead_of_appending(server, tmp_path):
    (tmp_path / "UCF101.rar.part").write_bytes(PAYLOAD[:1000])
    assert fetch(server, tmp_path, ["/norange"]).read_bytes() == PAYLOAD


@pytest.mark.parametrize("path, status", [("/missing", "HTTP 404"), ("/broken", "HTTP 500")])
def test_http_errors_fail_clearly_and_leave_nothing_behind(server, tmp_path, path, status):
    with pytest.raises(DownloadError, match=status) as error:
        fetch(server, tmp_path, [path], retries=2)
    assert server.url + path in str(error.value)
    assert list(tmp_path.iterdir()) == []
    expected_attempts = 3 if path == "/broken" else 1  # a 5xx may pass, a 404 will not
    assert len(server.requests) == expected_attempts


def test_an_unreachable_host_fails_after_its_retries(tmp_path):
    with pytest.raises(DownloadError, match="attempt 2 of 2"):
        download(["http://127.0.0.1:9/x.rar"], tmp_path / "x.rar", transfer=quiet(retries=1))
    assert list(tmp_path.iterdir()) == []


def test_the_next_mirror_is_tried_when_one_fails(server, tmp_path):
    assert fetch(server, tmp_path, ["/missing", "/file"]).read_bytes() == PAYLOAD


def test_a_wrong_checksum_quarantines_the_file_and_names_both_digests(server, tmp_path):
    with pytest.raises(ChecksumError) as error:
        fetch(server, tmp_path, ["/file"], sha256="0" * 64)
    assert "0" * 64 in str(error.value) and DIGEST in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["UCF101.rar.sha256-mismatch"]
    assert (tmp_path / "UCF101.rar.sha256-mismatch").read_bytes() == PAYLOAD


def test_without_a_pinned_checksum_the_digest_is_recorded_beside_the_archive(server, tmp_path, capsys):
    fetch(server, tmp_path, ["/file"], sha256=None)
    assert (tmp_path / "UCF101.rar.sha256").read_text() == f"{DIGEST}  UCF101.rar\n"
    assert DIGEST in capsys.readouterr().out
