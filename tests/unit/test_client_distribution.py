"""The client distribution stands alone: its metadata needs grpc and rich only, and its modules import
nothing of the server, the models or numpy."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"
SERVER_SIDE = ("service", "numpy", "torch", "transformers", "ctranslate2", "sentencepiece", "devkit")


def test_the_client_distribution_declares_no_server_dependency():
    project = tomllib.loads((CLIENTS / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {
        dependency.split(">")[0].split("<")[0].split("=")[0].strip() for dependency in project["dependencies"]
    }
    assert names == {
        "grpcio",
        "grpcio-health-checking",
        "grpcio-status",
        "protobuf",
        "googleapis-common-protos",
        "rich",
    }
    assert project["scripts"] == {"summarizer-client": "summarizer_client.cli:main"}


def test_the_client_modules_import_alone():
    """In an isolated interpreter that sees only clients/ and its generated stubs (not the repository root),
    every client module imports, and no server-side package comes in with them."""
    probe = (
        "import sys\n"
        "import summarizer_client, summarizer_client.aio, summarizer_client.cli\n"
        "from summarizer.v1 import summarizer_service_pb2_grpc\n"
        f"loaded = sorted(name for name in {SERVER_SIDE!r} if name in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[:0] = {[str(CLIENTS), str(CLIENTS / 'gen')]!r}\n{probe}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CLIENTS,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"server-side packages imported by the client: {result.stdout}"
