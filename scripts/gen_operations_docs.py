"""Write the generated sections of docs/operations.md from the code they describe.

docs/operations.md is written by hand, except between `<!-- generated: NAME -->` and
`<!-- end generated: NAME -->`, which this script rewrites:

- `settings`: every command-line flag (service/cli.py) with its environment variable and default
  (service/config.py);
- `metrics`: every Prometheus series with its type and labels (service/api/prometheus.py `METRICS`,
  and one counter per name in service/metrics.py `COUNTER_NAMES`);
- `access-log`: the fields of the access line (service/api/observability.py `ACCESS_FIELDS`).

    python scripts/gen_operations_docs.py           # rewrite docs/operations.md
    python scripts/gen_operations_docs.py --check   # exit 1 when docs/operations.md is stale

tests/unit/test_operations_docs.py fails when the committed file is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import MISSING, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.api.observability import ACCESS_FIELDS  # noqa: E402
from service.api.prometheus import METRICS, counter_help, counter_metric_name  # noqa: E402
from service.cli import _parser  # noqa: E402
from service.config import ENV_PREFIX, FALLBACK_ENV, Settings, default_cache_dir  # noqa: E402
from service.metrics import COUNTER_NAMES  # noqa: E402

OUTPUT = ROOT / "docs" / "operations.md"
_SECTION = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)", re.DOTALL
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(name: str) -> str:
    field = next((f for f in fields(Settings) if f.name == name), None)
    if field is None or field.default is MISSING:
        return ""
    value = field.default
    if name == "cache_dir" and value == default_cache_dir():  # computed from this machine's home
        return "`$XDG_CACHE_HOME/summarizer`, else `~/.cache/summarizer`"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if value == "":
        return "empty"
    return f"`{value}`"


def settings_table() -> Iterator[str]:
    settings = {f.name for f in fields(Settings)}
    parser = _parser()
    yield "| Flag | Environment variable | Default | What it does |"
    yield "| --- | --- | --- | --- |"
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = max(action.option_strings, key=len)
        if action.metavar is None and action.nargs != 0:
            flag += f" {action.dest.upper()}"
        if action.dest in settings:
            variable = f"`{ENV_PREFIX}{action.dest.upper()}`"
            if action.dest in FALLBACK_ENV:
                variable += f", else `{FALLBACK_ENV[action.dest]}`"
        else:
            variable = "none"
        what = (action.help or "").replace("%%", "%")
        yield f"| `{flag}` | {variable} | {_default(action.dest)} | {_cell(what)} |"


def metrics_table() -> Iterator[str]:
    yield "| Series | Type | Labels | Fed by | What it counts |"
    yield "| --- | --- | --- | --- | --- |"
    for spec in METRICS:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "none"
        yield f"| `{spec.name}` | {spec.kind} | {labels} | {spec.fed_by} | {_cell(spec.help)} |"
    for name in COUNTER_NAMES:
        yield (
            f"| `{counter_metric_name(name)}` | counter | none | the server's own counters, at scrape time "
            f"| {_cell(counter_help(name))} |"
        )


def access_log_table() -> Iterator[str]:
    yield "| Field | What it holds |"
    yield "| --- | --- |"
    for name, what in ACCESS_FIELDS.items():
        yield f"| `{name}` | {_cell(what)} |"


SECTIONS: dict[str, Callable[[], Iterator[str]]] = {
    "settings": settings_table,
    "metrics": metrics_table,
    "access-log": access_log_table,
}


def render(text: str | None = None) -> str:
    """docs/operations.md (or `text`) with every generated section written afresh."""
    text = OUTPUT.read_text(encoding="utf-8") if text is None else text
    seen: list[str] = []

    def section(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in SECTIONS:
            raise ValueError(f"unknown generated section {name!r}; known: {', '.join(SECTIONS)}")
        seen.append(name)
        body = "\n".join(SECTIONS[name]()) + "\n"
        return f"{match.group(1)}{body}{match.group(4)}"

    rendered = _SECTION.sub(section, text)
    missing = set(SECTIONS) - set(seen)
    if missing:
        raise ValueError(f"{OUTPUT.name} lacks the generated sections {sorted(missing)}")
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale; write nothing")
    args = parser.parse_args(argv)
    current = OUTPUT.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run `make docs` and commit it", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
