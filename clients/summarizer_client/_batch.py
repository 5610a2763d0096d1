"""`summarizer-client batch`: many articles, several at a time, into a resumable JSON-lines file.

Each finished article appends one line to the output at once, so whatever stops the run (Ctrl-C,
a crash, a reboot) loses only the articles still in flight. A run skips the articles the output
already holds, by path, so the same command resumes where the last run stopped. A line is one of

    {"file": ..., "request_id": ..., "languages": [...], "source_language": "en",
     "summaries": {"fr": "...", ...}, "failures": {"de": {"code": ..., "message": ...}}, "duration_ms": ...}
    {"file": ..., "request_id": ..., "languages": [...], "error": {"code": "INVALID_ARGUMENT",
     "message": ..., "reason": ..., "field_violations": [{"field": ..., "description": ...}]}}

`languages` are the requested targets; an article that cannot be read gets the error code
"UNREADABLE". Overloaded refusals are waited out (RetryInfo), so a batch can run flat out.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ._calls import Length, Mode
from .aio import AsyncSummarizerClient
from .errors import SummarizerClientError
from .types import SummarizeResult

_HTML_SUFFIXES = frozenset({".html", ".htm"})
_GLOB_CHARACTERS = frozenset("*?[")
# A batch prefers waiting to failing: an overloaded server is asked again after the delay it gives.
_OVERLOADED_ATTEMPTS = 10
# After Ctrl-C, how long the batch may take to cancel its calls and close its channel before it leaves
# anyway (what is done is on disk already: every record is written and flushed as it comes).
_INTERRUPT_GRACE_S = 3.0
# The exit status of a run stopped by Ctrl-C, as a shell reports one.
_INTERRUPTED_STATUS = 130


@dataclass(frozen=True)
class BatchOptions:
    articles: str
    out: Path
    targets: list[str] = field(default_factory=list)
    concurrency: int = 4
    source_language: str = ""
    mode: Mode | None = None
    length: Length | None = None
    html: bool = False
    retry_errors: bool = False


@dataclass
class _Tally:
    ok: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.ok + self.failed

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


def run(options: BatchOptions, connect: Callable[..., AsyncSummarizerClient]) -> int:
    """Run the batch; 0 when every article of this run succeeded, 1 when one failed, 2 on bad input.

    `connect(**options)` makes the client, inside the batch's event loop.
    """
    articles = find_articles(options.articles, exclude=options.out)
    if not articles:
        print(f"error: no articles match {options.articles}", file=sys.stderr)
        return 2
    try:
        done = recorded_files(options.out, drop_errors=options.retry_errors)
    except OSError as err:
        print(f"error: cannot read {options.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    pending = [path for path in articles if path.resolve() not in done]
    skipped = len(articles) - len(pending)
    tally = _Tally()
    if not pending:
        _report(options, tally, skipped=skipped, left=0, interrupted=False)
        return 0
    reported = threading.Lock()  # the closing lines are written once, by the run or by the watchdog

    def report(interrupted: bool) -> None:
        if reported.acquire(blocking=False):
            _report(options, tally, skipped=skipped, left=len(pending) - tally.done, interrupted=interrupted)

    def leave_now() -> None:
        report(True)
        sys.stderr.flush()
        os._exit(_INTERRUPTED_STATUS)

    interrupted = False
    try:
        with options.out.open("a", encoding="utf-8") as out:
            asyncio.run(_summarize_all(options, pending, connect, out, tally, leave_now))
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
        raise KeyboardInterrupt from None
    finally:
        report(interrupted)
    return 1 if tally.failed else 0


def find_articles(pattern: str, *, exclude: Path | None = None) -> list[Path]:
    """The files `pattern` names: a folder's files (not its subfolders'), a glob's matches, or one file."""
    if any(character in _GLOB_CHARACTERS for character in pattern):
        found = [Path(match) for match in glob.glob(pattern, recursive=True)]
    elif Path(pattern).is_dir():
        found = [path for path in Path(pattern).iterdir() if not path.name.startswith(".")]
    else:
        found = [Path(pattern)]
    excluded = exclude.resolve() if exclude is not None else None
    return sorted(path for path in found if path.is_file() and path.resolve() != excluded)


def recorded_files(out: Path, *, drop_errors: bool = False) -> set[Path]:
    """The articles `out` already holds a line for (resolved paths), after tidying the file.

    A last line cut short (the run was killed while writing it) is removed. With `drop_errors`,
    the lines that hold an error are removed too, so that those articles run again.
    """
    if not out.exists():
        return set()
    data = out.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # everything up to the last newline
    lines = complete.decode("utf-8", "replace").splitlines()
    kept = [line for line in lines if not (drop_errors and _is_error(line))]
    if len(complete) != len(data) or len(kept) != len(lines):
        _rewrite(out, kept)
    done = set()
    for line in kept:
        record = _parse(line)
        if record is not None and isinstance(record.get("file"), str):
            done.add(Path(record["file"]).resolve())
    return done


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _is_error(line: str) -> bool:
    record = _parse(line)
    return record is not None and "error" in record


def _rewrite(out: Path, lines: list[str]) -> None:
    # Write a new file and move it into place: a crash midway leaves the old file whole.
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    temporary.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    os.replace(temporary, out)


async def _summarize_all(
    options: BatchOptions,
    pending: list[Path],
    connect: Callable[..., AsyncSummarizerClient],
    out: IO[str],
    tally: _Tally,
    leave_now: Callable[[], None],
) -> None:
    _stop_on_ctrl_c(leave_now)
    queue: asyncio.Queue[Path] = asyncio.Queue()
    for path in pending:
        queue.put_nowait(path)
    with _Progress(len(pending)) as progress:
        async with connect(retry_overloaded=True, overloaded_attempts=_OVERLOADED_ATTEMPTS) as client:

            async def worker() -> None:
                while not queue.empty():
                    path = queue.get_nowait()
                    record = await _summarize_one(client, options, path)
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    out.flush()
                    if "error" in record:
                        tally.failed += 1
                    else:
                        tally.ok += 1
                    progress.advance(tally)

            workers = min(options.concurrency, len(pending))
            await asyncio.gather(*(worker() for _ in range(workers)))


def _stop_on_ctrl_c(leave_now: Callable[[], None]) -> None:
    """Ctrl-C cancels the batch (the task running this), so that its calls are cancelled and its channel
    closed; if that has not ended the run within _INTERRUPT_GRACE_S, or on a second Ctrl-C, `leave_now`.
    Where the loop cannot take signals (Windows), asyncio's own Ctrl-C handling stays."""
    loop = asyncio.get_running_loop()
    batch = asyncio.current_task()
    if batch is None:
        return
    watchdog: list[threading.Timer] = []

    def interrupt() -> None:
        if watchdog:
            leave_now()
        timer = threading.Timer(_INTERRUPT_GRACE_S, leave_now)
        timer.daemon = True
        timer.start()
        watchdog.append(timer)
        batch.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (NotImplementedError, RuntimeError):
        pass


async def _summarize_one(client: AsyncSummarizerClient, options: BatchOptions, path: Path) -> dict[str, Any]:
    # Our own request id, so that even a call that never reached a server has one to quote.
    request_id = uuid.uuid4().hex
    record: dict[str, Any] = {"file": str(path), "request_id": request_id, "languages": options.targets}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        record["error"] = {"code": "UNREADABLE", "message": f"cannot read {path}: {err}"}
        return record
    try:
        result = await client.summarize(
            text,
            options.targets,
            source_language=options.source_language,
            mode=options.mode,
            length=options.length,
            html=options.html or path.suffix.lower() in _HTML_SUFFIXES,
            request_id=request_id,
        )
    except SummarizerClientError as err:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Ctrl-C cancelled this task while its call was in flight, and the call ended as CANCELLED
            # rather than with the task's CancelledError: stop here, record nothing, take no next article.
            raise asyncio.CancelledError from err
        record["request_id"] = err.request_id or request_id
        record["error"] = _error_json(err)
        return record
    record.update(_result_json(result))
    return record


def _result_json(result: SummarizeResult) -> dict[str, Any]:
    found: dict[str, Any] = {
        "request_id": result.request_id,
        "source_language": result.source_language.language,
        "summaries": {summary.language: summary.text for summary in result.summaries},
    }
    if result.failures:
        found["failures"] = {
            failure.language: {"code": failure.code.name, "message": failure.message}
            for failure in result.failures
        }
    found["duration_ms"] = result.total_duration_ms
    return found


def _error_json(err: SummarizerClientError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": err.code.name, "message": err.details}
    if err.reason:
        error["reason"] = err.reason
    if err.field_violations:
        error["field_violations"] = [
            {"field": violation.field, "description": violation.description}
            for violation in err.field_violations
        ]
    if err.retry_after is not None:
        error["retry_after"] = err.retry_after
    return error


class _Progress:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, total: int) -> None:
        self._bar: Any = None
        self._task: Any = None
        if total and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("summarizing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[ok]} ok, {task.fields[failed]} failed, {task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task("batch", total=total, ok=0, failed=0, rate="-")

    def advance(self, tally: _Tally) -> None:
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=tally.done,
                ok=tally.ok,
                failed=tally.failed,
                rate=f"{tally.rate():.2f} articles/s",
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _report(options: BatchOptions, tally: _Tally, *, skipped: int, left: int, interrupted: bool) -> None:
    elapsed = time.monotonic() - tally.started
    lines = [
        f"{tally.ok} ok, {tally.failed} failed, {skipped} skipped (already in {options.out}) "
        f"in {elapsed:.1f} s ({tally.rate():.2f} articles/s)"
    ]
    if interrupted and left:
        lines.append(f"interrupted: {left} article(s) not done; run the same command again to resume")
    for line in lines:
        print(line, file=sys.stderr)
