"""The real service process on the tiny profile (SmolLM2 from PyPI): start-up, health, CLI, SIGTERM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.integration.conftest import ROOT, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.models, pytest.mark.slow]

SEED = ROOT / "seeds" / "000_dba0962fc812cd96.txt"


def wait_serving(target: str, timeout: float = 240) -> list[int]:
    """Poll health until SERVING; return the statuses seen on the way."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            status = health.Check(
                health_pb2.HealthCheckRequest(service="summarizer.v1.SummarizerService"), timeout=5
            ).status
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == health_pb2.HealthCheckResponse.SERVING:
                return seen
            time.sleep(0.1)
    raise AssertionError(f"not SERVING after {timeout} s; saw {seen}")


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("tiny"), "--profile", "tiny")
    try:
        target = server.wait_port()
        seen = wait_serving(target)
        yield server, target, seen
    finally:
        code = server.terminate()
        assert code == 0, server.output()


def client_cli(target: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen"), str(ROOT / "clients")])}
    return subprocess.run(
        [sys.executable, "-m", "summarizer_client", "--server", target, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )


def test_health_goes_from_not_serving_to_serving(tiny_server):
    _, _, seen = tiny_server
    assert seen[0] == health_pb2.HealthCheckResponse.NOT_SERVING
    assert seen[-1] == health_pb2.HealthCheckResponse.SERVING


def test_cli_streams_real_summaries_from_the_tiny_model(tiny_server):
    server, target, _ = tiny_server
    result = client_cli(target, "summarize", str(SEED), "-t", "en", "-t", "fr", "--length", "short", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert events[0]["source_language"]["language"] == "en"
    summaries = {e["summary"]["language"]: e["summary"] for e in events[1:] if "summary" in e}
    assert set(summaries) == {"en", "fr"}
    assert len(summaries["en"]["text"].split()) >= 5
    assert summaries["en"]["models"] == ["smollm2-135m-instruct"]
    assert summaries["fr"]["translated_from"] == "en"
    # Article text never reaches the logs at INFO.
    assert "Vershinin" not in server.output() and "Mamlouk" not in server.output()


def test_summaries_from_the_tiny_model_carry_issues_and_confidence(tiny_server):
    _, target, _ = tiny_server
    with grpc.insecure_channel(target) as channel:
        response = pb_grpc.SummarizerServiceStub(channel).Summarize(
            pb.SummarizeRequest(
                text=SEED.read_text(encoding="utf-8"),
                target_languages=["en", "fr"],
                options=pb.SummaryOptions(length=pb.LENGTH_PRESET_SHORT),
            ),
            timeout=300,
        )
    assert [s.language for s in response.summaries] == ["en", "fr"]
    for summary in response.summaries:
        assert 0.0 < summary.confidence <= 1.0
        for issue in summary.issues:
            assert issue.kind != pb.ISSUE_KIND_UNSPECIFIED and issue.detail
            if issue.HasField("span") and not issue.in_source:
                assert issue.span.end <= len(summary.text)
    en, fr = response.summaries
    # The model's own scores count: its confidence is below the check score alone.
    assert en.confidence < 1.0
    assert fr.confidence <= en.confidence + 1e-6  # a translation is never surer than its source summary


def test_cli_reads_stdin_and_reports_bad_input(tiny_server):
    _, target, _ = tiny_server
    ok = client_cli(
        target, "summarize", "-", "--mode", "extractive", "--sentences", "1", stdin=SEED.read_text()
    )
    assert ok.returncode == 0, ok.stderr
    assert "Russian" in ok.stdout
    bad = client_cli(target, "summarize", "-", "-t", "tlh", stdin="Some English words in a sentence.")
    assert bad.returncode == 1
    assert "INVALID_ARGUMENT" in bad.stderr and "target_languages[0]" in bad.stderr


def test_list_models_names_the_packaged_model(tiny_server):
    _, target, _ = tiny_server
    with grpc.insecure_channel(target) as channel:
        info = pb_grpc.SummarizerServiceStub(channel).ListModels(pb.ListModelsRequest(), timeout=10)
    llm = next(m for m in info.models if m.backend == "llm")
    assert info.profile == "tiny" and llm.source == "packaged:smollm2-135m-instruct-q4_1"
    assert list(llm.summary_languages) == ["en"] and len(llm.translation_pairs) == 42


def test_sigterm_drains_in_flight_stream_and_exits_zero(tmp_path):
    server = ServerProcess(tmp_path, "--profile", "tiny", "--grace-s", "60")
    try:
        target = server.wait_port()
        wait_serving(target)
        results: dict[str, object] = {}
        first_event = threading.Event()

        def stream() -> None:
            with grpc.insecure_channel(target) as channel:
                stub = pb_grpc.SummarizerServiceStub(channel)
                request = pb.StreamSummarizeRequest(text=SEED.read_text(), target_languages=["en", "de"])
                try:
                    events = []
                    for event in stub.StreamSummarize(request, timeout=240):
                        events.append(event)
                        first_event.set()
                    results["events"] = events
                except grpc.RpcError as exc:
                    results["error"] = exc
                first_event.set()

        worker = threading.Thread(target=stream)
        worker.start()
        assert first_event.wait(60)
        server.process.send_signal(15)
        time.sleep(0.5)
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.DetectLanguage(pb.DetectLanguageRequest(text="hello world"), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        worker.join(timeout=240)
        assert "error" not in results, results.get("error")
        events = results["events"]
        assert [e.summary.language for e in events[1:]] == ["en", "de"]  # type: ignore[union-attr]
        assert server.process.wait(timeout=60) == 0
    finally:
        server.kill()


def test_a_model_that_fails_to_load_exits_non_zero_with_one_line(tmp_path):
    profile = tmp_path / "broken.toml"
    profile.write_text(
        'name = "broken"\n[[models]]\nname = "missing-llm"\nbackend = "llm"\n'
        f'source = "{tmp_path / "nowhere.gguf"}"\ntasks = ["summarize"]\nlanguages = ["en"]\n'
    )
    server = ServerProcess(tmp_path, "--profile-file", str(profile), "--profile", "broken")
    try:
        code = server.process.wait(timeout=120)
    finally:
        server.kill()
    output = server.output()
    assert code == 1
    errors = [line for line in output.splitlines() if line.startswith("summarizer-service:")]
    assert len(errors) == 1 and "missing-llm" in errors[0] and "nowhere.gguf" in errors[0]
    assert "Traceback" not in output


def test_a_cuda_device_on_a_machine_without_one_exits_1_with_one_line(tmp_path):
    import ctranslate2  # the runtime of the tiny profile: its own count is the one the server checks

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("this machine has a CUDA device")
    server = ServerProcess(tmp_path, "--profile", "tiny", "--device", "cuda")
    try:
        code = server.process.wait(timeout=120)
    finally:
        server.kill()
    output = server.output()
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("summarizer-service:")]
    assert len(errors) == 1 and "device cuda:" in errors[0] and "no CUDA device" in errors[0], output
    assert "Traceback" not in output
    assert "loaded model" not in output  # refused before any model is loaded
