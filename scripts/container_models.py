"""The slim image's model folder: what the CTranslate2 runtime reads, and a profile file that points at it.

The image's build stage prepares a profile's models as `make setup` does (join and verify the packaged
weights, convert them, check the conversion on a probe) into a scratch cache, then this script copies out
only what a CTranslate2 server reads, into a folder that the runtime stage takes as it is:

    OUT/profile.toml                 the profile, as built in, with each model's source set to OUT/<name>/hf
    OUT/<name>/hf/                   config, generation config, tokenizer and chat template; no weights
    OUT/<name>/ct2-int8/             the converted model

Each model's options name its folder as `converted_folder` (service.models.options), so the server takes
the converted model from beside the `hf` folder as it is; it starts without the original weights,
without torch or transformers (the tokenizer is read from tokenizer.json: service.models.tokenizer_json),
and without writing anything. The prepared cache is read, never written, so it may be a read-only mount.

    python scripts/container_models.py export --profile tiny --cache-dir /build/cache --out /models
    python scripts/container_models.py requirements       # the slim virtualenv's model packages
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.models.base import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
# The model packages a CTranslate2 server imports: the runtime, the tokenizer, and jinja2 for the chat
# template. Their pins come from pyproject.toml, so they cannot drift.
RUNTIME_MODEL_PACKAGES = ("ctranslate2", "tokenizers", "jinja2")
# Files of a Hugging Face folder that only torch reads.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")
CT2_FOLDER = "ct2-int8"


def _project_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement.strip())
    return match.group(0).lower() if match else ""


def runtime_requirements(pyproject: Path) -> list[str]:
    """The requirement lines for the slim virtualenv: pyproject's pins of the runtime's model packages."""
    extras = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    wanted = [r for r in extras["models"] if _project_name(r) in RUNTIME_MODEL_PACKAGES]
    missing = set(RUNTIME_MODEL_PACKAGES) - {_project_name(r) for r in wanted}
    if missing:
        raise SystemExit(f"pyproject.toml's models extra does not list {sorted(missing)}")
    return wanted


def prepared_folder(cache_dir: Path, spec: ModelSpec) -> Path:
    """The cache entry that holds a packaged model's Hugging Face folder and its CTranslate2 conversion:
    the one the server itself would load, under the cache's current keys (older entries may sit beside it)."""
    from service.models.llm import gguf_cache_entry

    entry = gguf_cache_entry(spec, cache_dir)
    missing = [p for p in (entry / "hf" / "config.json", entry / CT2_FOLDER / "model.bin") if not p.is_file()]
    if missing:
        raise SystemExit(
            f"model {spec.name}: {', '.join(map(str, missing))} missing; prepare the cache with "
            "scripts/setup_models.py --runtime ctranslate2 and this checkout's code"
        )
    return entry


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def export(profile_name: str, cache_dir: Path, out: Path) -> Path:
    """Copy the runtime's files of every model of `profile_name` into `out`; write out/profile.toml."""
    from service.models.tokenizer_json import unsupported
    from service.profiles import get_profile, load_profile_file

    profile = get_profile(profile_name)
    lines = [f"name = {_toml_value(profile.name)}", f"description = {_toml_value(profile.description)}"]
    for spec in profile.models:
        if spec.backend == "extractive":
            continue  # every profile gets it; it has no files
        if spec.backend != "llm" or spec.options.get("runtime", "ctranslate2") != "ctranslate2":
            raise SystemExit(
                f"profile {profile.name}: model {spec.name} ({spec.backend}) is not a CTranslate2 LLM; "
                "the slim image holds only those: build the full image (--target full) instead"
            )
        source = prepared_folder(cache_dir, spec)
        target = out / spec.name
        shutil.rmtree(target, ignore_errors=True)
        (target / "hf").mkdir(parents=True)
        for path in sorted((source / "hf").iterdir()):
            if path.is_file() and not path.name.endswith(WEIGHT_SUFFIXES):
                shutil.copy2(path, target / "hf" / path.name)
        shutil.copytree(source / CT2_FOLDER, target / CT2_FOLDER)
        # The slim image has no transformers: its tokenizer must be readable from tokenizer.json.
        reason = unsupported(target / "hf")
        if reason is not None:
            raise SystemExit(f"model {spec.name}: the slim image cannot tokenize for it ({reason})")
        # The server takes the conversion from beside the `hf` folder, as it is, and converts nothing.
        exported_options = {**spec.options, "runtime": "ctranslate2", "converted_folder": str(target)}
        lines += [
            "",
            "[[models]]",
            f"name = {_toml_value(spec.name)}",
            f"backend = {_toml_value(spec.backend)}",
            f"source = {_toml_value(str(target / 'hf'))}",
            f"tasks = {_toml_value(list(spec.tasks))}",
            f"languages = {_toml_value(list(spec.languages))}",
            f"pairs = {_toml_value([list(p) for p in spec.pairs])}",
            f"options = {_toml_value(exported_options)}",
        ]
    profile_file = out / "profile.toml"
    profile_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The file must describe the same models as the built-in profile, apart from where they are.
    written = load_profile_file(profile_file)
    if [(m.name, m.backend, m.tasks, m.languages, m.pairs) for m in written.models] != [
        (m.name, m.backend, m.tasks, m.languages, m.pairs) for m in profile.models
    ]:
        raise SystemExit(f"{profile_file} does not describe profile {profile.name} as built in")
    return profile_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="copy a prepared profile's runtime files into a folder")
    exporting.add_argument("--profile", required=True)
    exporting.add_argument("--cache-dir", type=Path, required=True, help="setup_models.py's cache")
    exporting.add_argument("--out", type=Path, required=True)
    commands.add_parser("requirements", help="print the slim virtualenv's model packages, one a line")
    args = parser.parse_args(argv)
    if args.command == "requirements":
        print("\n".join(runtime_requirements(ROOT / "pyproject.toml")))
        return 0
    profile_file = export(args.profile, args.cache_dir, args.out)
    print(f"wrote {profile_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
