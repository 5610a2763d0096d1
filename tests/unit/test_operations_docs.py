"""docs/operations.md stays in step with the flags, settings, metrics and access-log fields it lists."""

from __future__ import annotations

from pathlib import Path

from service.cli import _parser
from service.config import ENV_PREFIX
from tests.unit.test_generated_code import load_script

ROOT = Path(__file__).resolve().parents[2]


def test_the_operations_guide_matches_the_code() -> None:
    committed = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    fresh = load_script("gen_operations_docs").render(committed)
    assert committed == fresh, "docs/operations.md is stale: run `make docs` and commit it"


def test_the_guide_names_every_flag_and_variable_and_the_readme_links_it() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for action in _parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in guide, flag
    assert f"`{ENV_PREFIX}METRICS_PORT`" in guide and "`OTEL_EXPORTER_OTLP_ENDPOINT`" in guide
    assert "(docs/operations.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
