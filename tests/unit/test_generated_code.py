"""What is generated from the proto and committed stays in step with it.

clients/gen/ (the client distribution's stubs) and docs/api.md are regenerated here into a
temporary folder, with the same scripts and grpcio-tools, and compared byte for byte.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) compiles the proto")

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_client_stubs_match_the_proto(tmp_path: Path) -> None:
    load_script("gen_protos").generate(tmp_path)

    committed, fresh = tree(ROOT / "clients" / "gen"), tree(tmp_path)
    assert sorted(committed) == sorted(fresh), "run `make protos` and commit clients/gen/"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"stale generated code {stale}: run `make protos` and commit clients/gen/"


def test_the_api_reference_matches_the_proto() -> None:
    fresh = load_script("gen_api_docs").render()

    committed = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert committed == fresh, "docs/api.md is stale: run `make docs` and commit it"
