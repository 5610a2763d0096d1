"""summarizer_client and its command line against real servers on 127.0.0.1 (fake models).

TLS, mutual TLS and the bearer token from the command line, with certificates made here; the
batch command against the real servicer's validation; the error details the real server sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.api.security import UNAUTHENTICATED_MESSAGE
from summarizer_client import AsyncSummarizerClient, FieldViolation, InvalidArgumentError, SummarizerClient
from summarizer_client.cli import main
from tests.integration.conftest import ServerThread, server_settings
from tests.integration.test_robustness import FOREIGN_LOOPS, article, stop_server, warm_pipeline
from tests.integration.test_security import Authority, Issued

pytestmark = [pytest.mark.integration, FOREIGN_LOOPS]

TOKEN = "cli-Token_0123456789"


@pytest.fixture(autouse=True)
def _no_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SUMMARIZER_SERVER", "SUMMARIZER_TOKEN", "grpc_proxy", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class Certificates:
    def __init__(self, folder: Path) -> None:
        self.ca = Authority(folder, "cli-test-ca")
        self.server: Issued = self.ca.issue("server", server=True)
        self.client: Issued = self.ca.issue("client", server=False)
        self.ca_cert = self.ca.issued.cert


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("cli-pki"))


@pytest.fixture(scope="module")
def tls_token_server(certificates: Certificates) -> Iterator[ServerThread]:
    settings = server_settings(
        tls_cert=certificates.server.cert, tls_key=certificates.server.key, auth_token=TOKEN
    )
    server = ServerThread(settings, warm_pipeline())
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def mtls_server(certificates: Certificates) -> Iterator[ServerThread]:
    settings = server_settings(
        tls_cert=certificates.server.cert,
        tls_key=certificates.server.key,
        tls_client_ca=certificates.ca_cert,
    )
    server = ServerThread(settings, warm_pipeline())
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def plain_server() -> Iterator[ServerThread]:
    server = ServerThread(server_settings(), warm_pipeline())
    yield server
    stop_server(server)


# -- TLS and the token from the command line -------------------------------------------------


def test_cli_over_tls_with_a_token(
    tls_token_server: ServerThread,
    certificates: Certificates,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tls = ["--server", tls_token_server.target, "--ca-cert", str(certificates.ca_cert)]
    assert main([*tls, "--token", TOKEN, "models"]) == 0
    assert capsys.readouterr().out.startswith("profile: fake\n")

    text = tmp_path / "article.txt"
    text.write_text(article(), encoding="utf-8")
    assert main(["summarize", str(text), "-t", "fr", *tls, "--token", TOKEN]) == 0
    out = capsys.readouterr().out
    assert out.startswith("source: en (detected")
    assert "== fr (" in out


def test_cli_reads_the_token_from_the_environment(
    tls_token_server: ServerThread,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SUMMARIZER_TOKEN", TOKEN)
    monkeypatch.setenv("SUMMARIZER_SERVER", tls_token_server.target)

    assert (
        main(["--ca-cert", str(certificates.ca_cert), "detect", "Bonjour tout le monde, il fait beau."]) == 0
    )
    assert capsys.readouterr().out.startswith("fr ")


def test_cli_without_the_token_is_unauthenticated(
    tls_token_server: ServerThread, certificates: Certificates, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = ["--server", tls_token_server.target, "--ca-cert", str(certificates.ca_cert)]

    assert main([*tls, "models"]) == 1
    assert capsys.readouterr().err == f"error: UNAUTHENTICATED: {UNAUTHENTICATED_MESSAGE}\n"
    assert main([*tls, "--token", "wrong", "models"]) == 1
    assert capsys.readouterr().err.startswith("error: UNAUTHENTICATED")


def test_cli_in_plaintext_or_with_an_unknown_ca_cannot_reach_a_tls_server(
    tls_token_server: ServerThread, certificates: Certificates, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--server", tls_token_server.target, "--token", TOKEN, "--timeout", "5"]

    assert main([*target, "models"]) == 1
    assert capsys.readouterr().err.startswith("error: UNAVAILABLE")
    # --tls alone trusts the system's CAs, which never signed the test certificate.
    assert main([*target, "--tls", "models"]) == 1
    assert capsys.readouterr().err.startswith("error: UNAVAILABLE")


def test_cli_with_a_client_certificate(
    mtls_server: ServerThread, certificates: Certificates, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = ["--server", mtls_server.target, "--ca-cert", str(certificates.ca_cert), "--timeout", "5"]
    client = ["--client-cert", str(certificates.client.cert), "--client-key", str(certificates.client.key)]

    assert main([*tls, *client, "models"]) == 0
    assert capsys.readouterr().out.startswith("profile: fake\n")
    assert main([*tls, "models"]) == 1  # the server requires a client certificate
    assert capsys.readouterr().err.startswith("error: UNAVAILABLE")


async def test_the_async_client_over_mutual_tls(
    mtls_server: ServerThread, certificates: Certificates
) -> None:
    async with AsyncSummarizerClient(
        mtls_server.target,
        timeout=10,
        ca_cert=certificates.ca_cert,
        client_cert=certificates.client.cert,
        client_key=certificates.client.key,
    ) as client:
        events = [event async for event in client.stream_summarize(article(), ["fr"])]
    assert [event.language for event in events] == ["en", "fr"]


# -- what the real server's errors carry ------------------------------------------------------


def test_an_invalid_request_carries_reason_field_and_request_id(plain_server: ServerThread) -> None:
    with SummarizerClient(plain_server.target, timeout=10) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            client.summarize("   ", ["fr"], request_id="req-empty")

    error = caught.value
    assert error.reason == "EMPTY_TEXT"
    assert error.domain == "summarizer.v1"
    assert [violation.field for violation in error.field_violations] == ["text"]
    assert isinstance(error.field_violations[0], FieldViolation)
    assert error.request_id == "req-empty"
    assert error.retry_after is None


# -- batch against the real servicer ----------------------------------------------------------


def lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_batch_over_a_folder_with_one_bad_file_then_resumes(
    plain_server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(article(), encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    command = ["batch", str(folder), "-t", "fr", "-t", "de", "--concurrency", "3", "--out", str(out)]

    assert main([*command, "--server", plain_server.target]) == 1  # one article failed

    found = {Path(line["file"]).name: line for line in lines(out)}
    assert sorted(found) == ["a.txt", "b.txt", "c.txt", "empty.txt"]
    bad = found["empty.txt"]
    assert bad["error"]["code"] == "INVALID_ARGUMENT"
    assert bad["error"]["reason"] == "EMPTY_TEXT"
    assert [v["field"] for v in bad["error"]["field_violations"]] == ["text"]
    assert bad["request_id"]
    for name in ("a.txt", "b.txt", "c.txt"):
        good = found[name]
        assert good["languages"] == ["fr", "de"] and good["source_language"] == "en"
        assert sorted(good["summaries"]) == ["de", "fr"] and "error" not in good
        assert good["summaries"]["fr"].startswith("fr(fake-sum[en]:")  # the fake translator's mark
    assert "3 ok, 1 failed, 0 skipped" in capsys.readouterr().err

    # A second run skips every article already in the output.
    assert main([*command, "--server", plain_server.target]) == 0
    assert "0 ok, 0 failed, 4 skipped" in capsys.readouterr().err
    assert len(lines(out)) == 4

    # A new article is the only one summarized.
    (folder / "d.txt").write_text(article(), encoding="utf-8")
    assert main([*command, "--server", plain_server.target]) == 0
    assert "1 ok, 0 failed, 4 skipped" in capsys.readouterr().err
    assert [Path(line["file"]).name for line in lines(out)][-1] == "d.txt"
