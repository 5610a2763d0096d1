"""Compile protos/ with grpcio-tools: messages, gRPC stubs and type stubs, exactly as protoc writes them.

Two copies, from one run of the same compiler:
  gen/           the server's, generated at set-up and not committed;
  clients/gen/   the client distribution's (`pip install ./clients`), committed, so that the
                 client installs without grpcio-tools; tests/unit/test_generated_code.py fails
                 when it no longer matches the proto.
Both hold the top-level package `summarizer`, the import path protoc derives from the proto's
path, so the generated `from summarizer.v1 import ...` lines resolve without any edit.

    python scripts/gen_protos.py            # both copies
    python scripts/gen_protos.py --out DIR  # one copy, into DIR (what the test does)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUTPUTS = (ROOT / "gen", ROOT / "clients" / "gen")


def proto_sources() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def generate(out: Path) -> None:
    """Write the Python code for every proto under protos/ into `out`; raises RuntimeError on failure."""
    sources = proto_sources()
    out.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {', '.join(sources)}")
    # Make every generated folder a regular package so setuptools and mypy find it.
    for folder in {(out / s).parent for s in sources}:
        while folder != out:
            (folder / "__init__.py").touch()
            folder = folder.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="write one copy into this folder instead of both")
    args = parser.parse_args(argv)
    outputs = (args.out,) if args.out else OUTPUTS
    for out in outputs:
        try:
            generate(out)
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 1
        where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
        print(f"generated {len(proto_sources())} proto file(s) into {where}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
