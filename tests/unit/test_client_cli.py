"""The command line's newer parts against fakes: batch, the live view, TLS flags, completion.

Batch runs here against a fake servicer; tests/integration/test_client_cli.py runs it against
the real servicer, whose validation makes the INVALID_ARGUMENT lines.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from rich.console import Console

from service import errors
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from summarizer_client import _batch, _live, cli
from summarizer_client.cli import main
from summarizer_client.types import LanguageSummary, SourceLanguage, Summary
from tests.unit import test_client as blocking
from tests.unit.test_client import ARTICLE, STREAM_RESPONSES, SUMMARIZE_RESPONSE, FakeSummarizerService
from tests.unit.test_client_resilience import status_of

ROOT = Path(__file__).resolve().parents[2]

# The blocking client's fixtures: a fake servicer on 127.0.0.1, and no SUMMARIZER_* from outside.
_isolated_environment = blocking._isolated_environment
fake = blocking.fake
health_servicer = blocking.health_servicer
address = blocking.address


@contextmanager
def served(servicer: pb_grpc.SummarizerServiceServicer) -> Iterator[str]:
    """`servicer` on an in-process server on 127.0.0.1; yields its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_SummarizerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def by_file(out: Path) -> dict[str, dict[str, Any]]:
    return {Path(record["file"]).name: record for record in records(out)}


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    for index in range(5):
        (folder / f"{index:02d}.txt").write_text(f"{ARTICLE} Number {index}.", encoding="utf-8")
    return folder


# -- batch -----------------------------------------------------------------------------------


def test_batch_writes_one_line_per_article(
    address: str, fake: FakeSummarizerService, articles: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"

    code = main(["batch", str(articles), "-t", "fr", "-t", "de", "--out", str(out), "--server", address])

    assert code == 0
    lines = by_file(out)
    assert sorted(lines) == [f"{i:02d}.txt" for i in range(5)]
    first = lines["00.txt"]
    assert first["file"] == str(articles / "00.txt")
    assert first["languages"] == ["fr", "de"]
    assert first["request_id"] == "req-42"  # the server's answer wins over the id the client sent
    assert first["source_language"] == "en"
    assert first["summaries"] == {"en": "Rain fell on Paris.", "fr": "Il a plu sur Paris."}
    assert first["failures"] == {"de": {"code": "INTERNAL", "message": "translator crashed"}}
    sent = sorted(request.text for name, request in fake.calls)
    assert sent == sorted(path.read_text(encoding="utf-8") for path in articles.iterdir())
    assert all(list(request.target_languages) == ["fr", "de"] for _, request in fake.calls)
    # Each request carried an id of the client's own making.
    assert len({request.request_id for _, request in fake.calls}) == 5


def test_batch_skips_what_the_output_holds(
    address: str,
    fake: FakeSummarizerService,
    articles: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "results.jsonl"
    assert main(["batch", str(articles / "0[01].txt"), "--out", str(out), "--server", address]) == 0
    assert len(fake.calls) == 2
    capsys.readouterr()

    assert main(["batch", str(articles), "--out", str(out), "--server", address]) == 0

    assert len(fake.calls) == 5
    assert sorted(by_file(out)) == [f"{i:02d}.txt" for i in range(5)]
    assert len(records(out)) == 5
    assert "3 ok, 0 failed, 2 skipped" in capsys.readouterr().err


def test_batch_repairs_a_line_cut_short(
    address: str, fake: FakeSummarizerService, articles: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    done = {"file": str(articles / "00.txt"), "request_id": "old", "summaries": {}}
    out.write_text(json.dumps(done) + "\n" + '{"file": "' + str(articles / "01.txt"), encoding="utf-8")

    assert main(["batch", str(articles), "--out", str(out), "--server", address]) == 0

    assert len(fake.calls) == 4  # 01 was never finished: it runs again
    assert records(out)[0] == done
    assert sorted(by_file(out)) == [f"{i:02d}.txt" for i in range(5)]


def test_batch_errors_are_lines_and_can_be_retried(
    address: str, fake: FakeSummarizerService, articles: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    (articles / "latin1.txt").write_bytes("Caf\xe9 au lait.".encode("latin-1"))
    fake.error = (grpc.StatusCode.INTERNAL, "worker died", "req-u")

    code = main(["batch", str(articles), "--out", str(out), "--server", address, "--timeout", "10"])

    assert code == 1
    lines = by_file(out)
    assert lines["latin1.txt"]["error"]["code"] == "UNREADABLE"
    assert lines["00.txt"]["error"] == {"code": "INTERNAL", "message": "worker died"}
    assert lines["00.txt"]["request_id"] == "req-u"

    fake.error = None
    calls = len(fake.calls)
    # An error line counts as done: a plain second run has nothing to do.
    assert main(["batch", str(articles), "--out", str(out), "--server", address]) == 0
    assert len(fake.calls) == calls
    # --retry-errors runs them again; the unreadable file fails again.
    assert main(["batch", str(articles), "--out", str(out), "--server", address, "--retry-errors"]) == 1

    lines = by_file(out)
    assert len(records(out)) == 6
    assert all("summaries" in lines[f"{i:02d}.txt"] for i in range(5))
    assert lines["latin1.txt"]["error"]["code"] == "UNREADABLE"


def test_batch_leaves_out_its_own_output_and_sends_html_as_html(
    address: str, fake: FakeSummarizerService, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "page.html").write_text("<p>Rain fell on Paris.</p>", encoding="utf-8")
    (folder / ".hidden").write_text("not an article", encoding="utf-8")
    out = folder / "results.jsonl"

    assert main(["batch", str(folder), "--out", str(out), "--server", address]) == 0
    assert main(["batch", str(folder), "--out", str(out), "--server", address]) == 0

    (name, request), *rest = fake.calls
    assert not rest
    assert request.input_format == pb.INPUT_FORMAT_HTML
    assert list(by_file(out)) == ["page.html"]


def test_batch_with_nothing_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batch", str(tmp_path / "*.txt"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert capsys.readouterr().err.startswith("error: no articles match")


class Overloaded(FakeSummarizerService):
    """Refuses the first `refusals` Summarize calls as overloaded, with a RetryInfo delay, then answers."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    def Summarize(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("Summarize", request, context)
        if len(self.calls) <= self.refusals:
            context.abort_with_status(status_of(errors.OverloadedError("busy", retry_after_s=0.2), "req-o"))
        return SUMMARIZE_RESPONSE


def test_batch_waits_out_an_overloaded_server(tmp_path: Path) -> None:
    fake = Overloaded(refusals=1)
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "out.jsonl"

    with served(fake) as address:
        assert main(["batch", str(tmp_path / "a.txt"), "--out", str(out), "--server", address]) == 0

    assert len(fake.calls) == 2
    assert "summaries" in records(out)[0]


def test_summarize_reports_the_retry_delay(article_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with served(Overloaded(refusals=100)) as address:
        assert main(["--server", address, "summarize", str(article_file), "--no-stream"]) == 1

    assert capsys.readouterr().err == (
        "error: RESOURCE_EXHAUSTED: busy (request id req-o); the server asks to retry after 0.2 s\n"
    )


class HeldFake(FakeSummarizerService):
    """Answers the article that says "quick" at once and holds every other one."""

    def Summarize(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("Summarize", request, context)
        if "quick" not in request.text:
            threading.Event().wait(30)
        return SUMMARIZE_RESPONSE


def _ctrl_c(process: subprocess.Popen[str]) -> tuple[float, str]:
    """SIGINT to a running client: how long it took to exit (killed after 15 s) and its stderr."""
    started = time.monotonic()
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return time.monotonic() - started, stderr


def test_ctrl_c_stops_the_batch_and_keeps_what_is_done(tmp_path: Path) -> None:
    fake = HeldFake()
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text(f"{ARTICLE} quick", encoding="utf-8")
    for name in ("b.txt", "c.txt", "d.txt"):
        (folder / name).write_text(f"{ARTICLE} slow {name}", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SUMMARIZER_")},
        "PYTHONPATH": os.pathsep.join([str(ROOT / "clients"), str(ROOT / "gen"), *sys.path]),
    }
    with served(fake) as address:
        process = subprocess.Popen(
            [sys.executable, "-m", "summarizer_client", "batch", str(folder), "--out", str(out),
             "--server", address, "--concurrency", "2"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            # Wait until the quick article is written and a held one is in flight.
            while not (out.exists() and out.read_text().count("\n") == 1 and len(fake.calls) >= 2):
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            seconds, stderr = _ctrl_c(process)

    assert process.returncode == 130
    assert seconds < 5  # it did not wait for the held calls
    assert [Path(record["file"]).name for record in records(out)] == ["a.txt"]
    assert "interrupted: 3 article(s) not done; run the same command again to resume" in stderr


_STUCK_BATCH = """
import asyncio, sys
from pathlib import Path
from summarizer_client import _batch


class FakeStuckClient:
    # A fake client whose call never ends and whose closing ignores every cancellation.
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass

    async def summarize(self, *args, **kwargs):
        print("in flight", file=sys.stderr, flush=True)
        await asyncio.sleep(3600)


options = _batch.BatchOptions(articles=sys.argv[1], out=Path(sys.argv[2]), concurrency=1)
try:
    sys.exit(_batch.run(options, lambda **_: FakeStuckClient()))
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_leaves_within_the_grace_even_when_closing_the_client_hangs(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "clients"), str(ROOT / "gen"), *sys.path])}
    process = subprocess.Popen(
        [sys.executable, "-c", _STUCK_BATCH, str(tmp_path / "a.txt"), str(tmp_path / "out.jsonl")],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None and process.stderr.readline().strip() == "in flight"
    finally:
        seconds, stderr = _ctrl_c(process)
    assert process.returncode == 130
    assert seconds < 8  # the grace, not forever
    assert "interrupted: 1 article(s) not done; run the same command again to resume" in stderr


# -- summarize on a terminal ---------------------------------------------------------------


def test_summarize_on_a_terminal_shows_each_language(
    address: str, article_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(
        cli, "_terminal_console", lambda: Console(file=screen, force_terminal=True, width=100)
    )

    assert main(["--server", address, "summarize", str(article_file), "-t", "en", "fr", "de"]) == 0

    shown = screen.getvalue()
    last_frame = shown[shown.rfind("source:") :]
    assert "en (detected, confidence 0.98)" in last_frame
    assert "warning: a note" in last_frame
    assert "en (4.1 s)" in last_frame and "Rain fell on Paris." in last_frame
    assert "fr (translated from en, 12.3 s)" in last_frame and "Il a plu sur Paris." in last_frame
    assert "de: FAILED (INTERNAL)" in last_frame and "translator crashed" in last_frame
    assert "waiting" not in last_frame


def test_json_on_a_terminal_stays_json(
    address: str, article_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_terminal_console", lambda: pytest.fail("no live view for --json"))

    assert main(["--server", address, "summarize", str(article_file), "--json"]) == 0

    assert len([json.loads(line) for line in capsys.readouterr().out.splitlines()]) == len(STREAM_RESPONSES)


def test_the_board_shows_what_is_still_awaited() -> None:
    board = _live.SummaryBoard(["fr", "zh-hans"])

    def render() -> str:
        console = Console(file=io.StringIO(), width=80, color_system=None)
        console.print(board)
        return console.file.getvalue()  # type: ignore[attr-defined]

    assert "detecting the language" in render()
    board.add(SourceLanguage(request_id="r", language="en", confidence=0.9))
    assert "waiting for fr, zh-hans" in render()
    board.add(LanguageSummary(request_id="r", summary=Summary(language="zh-Hans", text="巴黎下雨了。")))
    assert "waiting for fr" in render() and "zh-hans" not in render().split("waiting")[-1]
    board.finished = True
    assert "waiting" not in render() and "巴黎下雨了。" in render()


@pytest.fixture
def article_file(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    return path


# -- TLS flags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--client-cert", "c.pem", "models"], "--client-cert and --client-key go together"),
        (["models", "--client-key", "k.pem"], "--client-cert and --client-key go together"),
        (["--tls-server-name", "x", "models"], "--tls-server-name needs TLS"),
    ],
)
def test_tls_flag_misuse_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_an_unreadable_ca_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "ca.pem"

    assert main(["--ca-cert", str(missing), "models"]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot read {missing}")


def test_tls_to_a_plaintext_server_fails_as_unavailable(
    address: str, fake: FakeSummarizerService, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--server", address, "--tls", "--timeout", "5", "models"]) == 1
    assert capsys.readouterr().err.startswith("error: UNAVAILABLE")
    assert fake.calls == []


# -- completion ------------------------------------------------------------------------------


def bash_completions(script: Path, *words: str) -> list[str]:
    """What bash offers for the last of `words`, with the script loaded."""
    line = " ".join(f"'{word}'" for word in ("summarizer-client", *words))
    program = (
        f'source "{script}"; COMP_WORDS=({line}); COMP_CWORD={len(words)}; '
        '_summarizer_client; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, check=True)
    return [item for item in result.stdout.splitlines() if item]


@pytest.fixture
def bash_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["completion", "bash"]) == 0
    path = tmp_path / "summarizer-client.bash"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    return path


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion(bash_script: Path, tmp_path: Path) -> None:
    assert bash_completions(bash_script, "") == [
        "summarize", "batch", "translate", "detect", "models", "health", "completion",
    ]  # fmt: skip
    assert bash_completions(bash_script, "b") == ["batch"]
    assert bash_completions(bash_script, "summarize", "--mode", "") == ["abstractive", "extractive"]
    assert bash_completions(bash_script, "batch", "x", "--c") == [
        "--ca-cert", "--client-cert", "--client-key", "--concurrency",
    ]  # fmt: skip
    assert "--concurrency" not in bash_completions(bash_script, "summarize", "--")
    assert bash_completions(bash_script, "completion", "") == ["bash", "zsh"]
    assert bash_completions(bash_script, "--server", "") == []
    (tmp_path / "news.txt").write_text("x")
    assert bash_completions(bash_script, "batch", f"{tmp_path}/ne") == [f"{tmp_path}/news.txt"]


def test_zsh_completion(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out

    assert script.startswith("#compdef summarizer-client\n")
    for command in ("summarize", "batch", "translate", "detect", "models", "health", "completion"):
        assert f"'{command}:" in script and f"        {command})" in script
    assert "'--mode[(default: the server'\\''s)]:value:(abstractive extractive)'" in script
    assert "'*'{-t,--target}" in script
    assert "'--out[the JSON-lines file to append the results to]:file:_files'" in script
    if shutil.which("zsh"):
        path = tmp_path / "_summarizer-client"
        path.write_text(script, encoding="utf-8")
        subprocess.run(["zsh", "-n", str(path)], check=True, timeout=30)


def test_completion_needs_a_known_shell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "fish"]) == 2
    assert "invalid choice: 'fish'" in capsys.readouterr().err


def test_find_articles(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.txt", "a.txt", "sub/c.txt", ".hidden"):
        (tmp_path / name).write_text("x")

    assert _batch.find_articles(str(tmp_path)) == [tmp_path / "a.txt", tmp_path / "b.txt"]
    assert _batch.find_articles(str(tmp_path / "**" / "*.txt")) == [
        tmp_path / "a.txt",
        tmp_path / "b.txt",
        tmp_path / "sub" / "c.txt",
    ]
    assert _batch.find_articles(str(tmp_path / "a.txt"), exclude=tmp_path / "a.txt") == []


class _FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal, and keeps what is written to it."""

    def isatty(self) -> bool:
        return True


def test_the_batch_progress_bar_shows_counts_and_throughput_on_a_terminal(monkeypatch):
    from summarizer_client import _batch

    terminal = _FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    tally = _batch._Tally(started=time.monotonic() - 2.0)
    with _batch._Progress(4) as progress:
        tally.ok, tally.failed = 2, 1
        progress.advance(tally)
    shown = terminal.getvalue()
    assert "3/4" in shown and "2 ok, 1 failed" in shown, shown
    assert "articles/s" in shown, shown


def test_the_batch_progress_bar_stays_off_when_stderr_is_not_a_terminal(monkeypatch):
    from summarizer_client import _batch

    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    tally = _batch._Tally()
    with _batch._Progress(4) as progress:
        tally.ok = 1
        progress.advance(tally)
    assert piped.getvalue() == ""
