"""Three real server processes behind one client target: round robin spreads the calls over them, and
the client rides out one replica drained with SIGTERM and another killed with SIGKILL under load.

The replicas run the tiny profile without warm-up, and every call is an extractive Summarize: real
summaries that need no model run, so the calls are cheap and the test is about routing and failover.
(A profile of the extractive summarizer alone would start faster, but the server then knows no
language and refuses every article.)

Three phases, each a fixed number of calls shared by WORKERS threads through ONE SummarizerClient
whose target lists the three addresses:

1. balance: all three replicas up; each serves a share of the calls.
2. failover: after a quarter of the calls, replica A gets SIGTERM (it drains and exits 0); after half,
   replica B is frozen with SIGSTOP until calls are stuck in flight on it, then killed with SIGKILL,
   so that the kill always cuts calls that have no response yet. Every call still ends, and ends OK:
   gRPC's retry policy (UNAVAILABLE, no response received yet) sends it again, round robin to another
   replica. The one exception is gRPC's own: a call that reaches A in the instant it shuts down can
   end CANCELLED, which is not retried (see `shutdown_cancelled`); it is counted and bounded.
3. final: only replica C is left, and serves every call.

Who served what comes from two independent views: each server's access log (one line per call, with
the call's request id and status) and the client channel's channelz counters (attempts started,
succeeded and failed per address; the attempts beyond one per call are the retries). The figures are
printed; see them with `pytest -s`.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from summarizer_client import SummarizerClient, SummarizerClientError
from tests.integration.conftest import ROOT, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.models, pytest.mark.slow]

REPLICA_ARGS = ("--profile", "tiny", "--no-warmup", "--log-level", "INFO", "--grace-s", "20")
WORKERS = 8
BALANCE_CALLS = 96
FAILOVER_CALLS = 192
FINAL_CALLS = 24
# Failover phase: SIGTERM to A once this many calls have ended, SIGSTOP then SIGKILL to B at the second mark.
SIGTERM_AFTER = FAILOVER_CALLS // 4
KILL_AFTER = FAILOVER_CALLS // 2
# Calls stuck in flight on the frozen replica before it is killed.
STUCK_BEFORE_KILL = 2

START_TIMEOUT_S = 240.0  # three tiny servers loading at once on a busy 2-core machine
CALL_TIMEOUT_S = 60.0  # each call's deadline, retries included
PHASE_TIMEOUT_S = 180.0
SIGNAL_WAIT_S = 60.0  # the longest wait for a phase's mark, or for calls stuck on the frozen replica
EXIT_TIMEOUT_S = 60.0

# The access line the server writes as each summarizer call ends (service/api/interceptors.py).
ACCESS_LINE = re.compile(r"\[(?P<request_id>[^\]\s]+)\] Summarize (?P<code>[A-Z_]+) in ")


@dataclass(frozen=True)
class Article:
    name: str
    text: str


def seed_articles() -> list[Article]:
    """The seed articles; each is in a language the tiny profile accepts as a source."""
    paths = sorted(p for p in (ROOT / "seeds").glob("*.txt"))
    return [Article(p.stem, p.read_text(encoding="utf-8")) for p in paths]


@dataclass(frozen=True)
class Outcome:
    """How one call ended, as its caller saw it."""

    request_id: str
    article: str
    code: str  # "OK", a gRPC status name, or the name of an unexpected exception
    details: str = ""
    source_language: str = ""
    summary_language: str = ""
    summary: str = ""


class Load:
    """`count` extractive Summarize calls, shared by WORKERS threads through one client.

    Every call gets a request id of its own ("<phase>-<n>") and a terminal outcome, kept in `outcomes`.
    """

    def __init__(self, client: SummarizerClient, phase: str, count: int, articles: list[Article]) -> None:
        self.client = client
        self.phase = phase
        self.count = count
        self.articles = articles
        self.outcomes: list[Outcome] = []
        self.started = 0.0
        self._indexes = itertools.count()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"{phase}-{i}", daemon=True) for i in range(WORKERS)
        ]

    @property
    def request_ids(self) -> set[str]:
        return {f"{self.phase}-{n}" for n in range(self.count)}

    def start(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Claim no more calls (the ones in flight still end); for a test that is failing."""
        self._stopping.set()

    def codes(self) -> Counter[str]:
        """How the calls that have ended so far ended: "OK" or the status name, with their counts."""
        with self._changed:
            return Counter(outcome.code for outcome in self.outcomes)

    def ended(self) -> int:
        with self._changed:
            return len(self.outcomes)

    def wait_ended(self, calls: int, timeout: float) -> None:
        """Wait until `calls` calls have ended; fail when that takes longer than `timeout`."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.outcomes) >= calls, timeout):
                pytest.fail(
                    f"{self.phase}: only {len(self.outcomes)} of {calls} calls ended in {timeout:.0f} s"
                )

    def join(self, timeout: float) -> float:
        """Wait for every call to end; returns the phase's duration in seconds."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            self.stop()
            pytest.fail(
                f"{self.phase}: workers {alive} still busy after {timeout:.0f} s; {self.ended()} ended"
            )
        return time.monotonic() - self.started

    def _claim(self) -> int | None:
        with self._changed:
            index = next(self._indexes)
        return None if index >= self.count or self._stopping.is_set() else index

    def _work(self) -> None:
        while (index := self._claim()) is not None:
            article = self.articles[index % len(self.articles)]
            outcome = self._call(f"{self.phase}-{index}", article)
            with self._changed:
                self.outcomes.append(outcome)
                self._changed.notify_all()

    def _call(self, request_id: str, article: Article) -> Outcome:
        try:
            result = self.client.summarize(
                article.text, mode="extractive", request_id=request_id, timeout=CALL_TIMEOUT_S
            )
        except SummarizerClientError as err:
            return Outcome(request_id, article.name, err.code.name, err.details)
        except Exception as exc:  # any other end is an outcome too, and fails the test
            return Outcome(request_id, article.name, type(exc).__name__, str(exc))
        summary = result.summaries[0] if result.summaries else None
        return Outcome(
            request_id,
            article.name,
            "OK",
            "",
            result.source_language.language,
            summary.language if summary else "",
            summary.text if summary else "",
        )


# -- what the servers logged -----------------------------------------------------------------------


def access_lines(server: ServerProcess) -> list[tuple[str, str]]:
    """(request id, status) of every Summarize call the server logged, in order."""
    return [(m["request_id"], m["code"]) for m in ACCESS_LINE.finditer(server.output())]


def served(servers: dict[str, ServerProcess], request_ids: set[str]) -> dict[str, Counter[str]]:
    """Per replica: how many of these calls it answered, by status."""
    return {
        name: Counter(code for request_id, code in access_lines(server) if request_id in request_ids)
        for name, server in servers.items()
    }


def answered_ok(servers: dict[str, ServerProcess], request_ids: set[str]) -> Counter[str]:
    """How many OK access lines each of these calls has, over all replicas."""
    counts: Counter[str] = Counter()
    for server in servers.values():
        counts.update(rid for rid, code in access_lines(server) if code == "OK" and rid in request_ids)
    return counts


# -- what the client's channel counted (channelz) ---------------------------------------------------


@dataclass(frozen=True)
class Attempts:
    """channelz call counters: of the channel (one per call) or of one address (one per attempt)."""

    started: int = 0
    succeeded: int = 0
    failed: int = 0

    @classmethod
    def of(cls, data: dict[str, str]) -> Attempts:
        # proto3 JSON leaves out the counters that are 0.
        return cls(
            int(data.get("callsStarted", 0)),
            int(data.get("callsSucceeded", 0)),
            int(data.get("callsFailed", 0)),
        )

    @property
    def in_flight(self) -> int:
        return self.started - self.succeeded - self.failed

    def __sub__(self, other: Attempts) -> Attempts:
        return Attempts(
            self.started - other.started, self.succeeded - other.succeeded, self.failed - other.failed
        )


@dataclass(frozen=True)
class ChannelCounts:
    calls: Attempts
    by_port: dict[int, Attempts]

    def __sub__(self, other: ChannelCounts) -> ChannelCounts:
        return ChannelCounts(
            self.calls - other.calls,
            {port: counts - other.by_port.get(port, Attempts()) for port, counts in self.by_port.items()},
        )

    @property
    def attempts(self) -> int:
        return sum(counts.started for counts in self.by_port.values())

    @property
    def retries(self) -> int:
        """Attempts beyond the first of each call."""
        return self.attempts - self.calls.started


def channel_counts(target: str) -> ChannelCounts:
    """The channelz counters of this process's channel to `target`, and of each of its addresses.

    grpcio keeps channelz in its core and reaches it only through `grpc._cython.cygrpc` (the
    grpcio-channelz package wraps the same calls in a gRPC service); grpcio is pinned, so the
    private module is a known quantity here.
    """
    from grpc._cython import cygrpc

    start = 0
    while True:
        page = json.loads(cygrpc.channelz_get_top_channels(start))
        channels = page.get("channel", [])
        for channel in channels:
            if channel["data"].get("target") == target:
                return ChannelCounts(Attempts.of(channel["data"]), _subchannel_counts(channel))
        if page.get("end", True) or not channels:
            raise AssertionError(f"channelz has no channel to {target}")
        start = max(int(channel["ref"]["channelId"]) for channel in channels) + 1


def _subchannel_counts(channel: dict[str, object]) -> dict[int, Attempts]:
    from grpc._cython import cygrpc

    by_port: dict[int, Attempts] = {}
    for ref in channel.get("subchannelRef", []):  # type: ignore[attr-defined]
        data = json.loads(cygrpc.channelz_get_subchannel(int(ref["subchannelId"])))["subchannel"]["data"]
        port = int(data["target"].rsplit(":", 1)[1])
        by_port[port] = Attempts.of(data)
    return by_port


def wait_in_flight(target: str, port: int, calls: int, load: Load) -> int:
    """Poll channelz until at least `calls` attempts are in flight to `port`; returns how many are."""
    deadline = time.monotonic() + SIGNAL_WAIT_S
    while True:
        in_flight = channel_counts(target).by_port.get(port, Attempts()).in_flight
        if in_flight >= calls:
            return in_flight
        if load.ended() >= load.count:
            pytest.fail(f"{load.phase}: the load ended before {calls} calls were in flight to port {port}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"{load.phase}: {in_flight} attempts in flight to port {port} after {SIGNAL_WAIT_S} s"
            )
        time.sleep(0.005)


# -- the replicas ----------------------------------------------------------------------------------


def wait_serving(servers: dict[str, ServerProcess], timeout: float) -> None:
    """Wait until every replica has bound its port and its health says SERVING; fail if one dies."""
    deadline = time.monotonic() + timeout
    for server in servers.values():
        server.wait_port(max(1.0, deadline - time.monotonic()))
    for name, server in servers.items():
        with SummarizerClient(server.target, timeout=10) as client:
            while True:
                assert server.process is not None
                code = server.process.poll()
                if code is not None:
                    pytest.fail(f"replica {name} exited with {code} while starting{server.log_tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"replica {name} not SERVING after {timeout:.0f} s{server.log_tail()}")
                try:
                    client.wait_ready(min(remaining, 2.0))
                    break
                except SummarizerClientError:  # not yet: look at the process again, then wait on
                    continue


def warm_up(servers: dict[str, ServerProcess], articles: list[Article]) -> float:
    """Summarize each article once on each replica, straight to its address; returns the seconds it took.

    The replicas start without warm-up, so each loads its language detector and sentence splitters on
    its first calls, which takes seconds on a busy machine. The replicas warm up side by side.
    """

    def warm(name: str, server: ServerProcess) -> None:
        with SummarizerClient(server.target, timeout=START_TIMEOUT_S) as client:
            for n, article in enumerate(articles):
                client.summarize(article.text, mode="extractive", request_id=f"warmup-{name}-{n}")

    started = time.monotonic()
    with ThreadPoolExecutor(len(servers)) as pool:
        for done in [pool.submit(warm, name, server) for name, server in servers.items()]:
            done.result()
    return time.monotonic() - started


def shutdown_cancelled(outcomes: list[Outcome]) -> list[Outcome]:
    """The calls that ended CANCELLED; fails the test when any call ended otherwise than OK or CANCELLED.

    A call that reaches a server in the instant it shuts down, before the server has taken it up, is
    ended by gRPC's core with CANCELLED, not UNAVAILABLE (grpc/grpc#41785; grpcio 1.85.1 still does), and
    the client's retry policy retries UNAVAILABLE only. That is the one failure tolerated here;
    the test counts it, and bounds it by the attempts that failed on the draining replica.
    """
    others = [o for o in outcomes if o.code not in ("OK", "CANCELLED")]
    assert not others, others[:5]
    return [o for o in outcomes if o.code == "CANCELLED"]


def check_summaries(outcomes: list[Outcome]) -> None:
    """Every OK call carries a real summary in its article's language, the same one from every replica."""
    texts: dict[str, set[str]] = {}
    for outcome in outcomes:
        if outcome.code != "OK":
            continue
        assert outcome.summary.strip(), outcome
        assert outcome.summary_language == outcome.source_language, outcome
        texts.setdefault(outcome.article, set()).add(outcome.summary)
    differing = {article: len(found) for article, found in texts.items() if len(found) > 1}
    assert not differing, f"replicas disagree on the extractive summary of {differing}"


def shares(counts: dict[str, Counter[str]]) -> str:
    """The OK calls each replica logged, e.g. "A=32 B=31 C=33"."""
    return " ".join(f"{name}={codes['OK']}" for name, codes in counts.items())


@pytest.mark.timeout(600)
def test_round_robin_over_three_replicas_survives_sigterm_and_sigkill(tmp_path: Path) -> None:
    articles = seed_articles()
    servers: dict[str, ServerProcess] = {}
    loads: list[Load] = []
    try:
        for name in ("A", "B", "C"):
            servers[name] = ServerProcess(tmp_path, *REPLICA_ARGS)
        started = time.monotonic()
        wait_serving(servers, START_TIMEOUT_S)
        startup_s = time.monotonic() - started
        warm_up_s = warm_up(servers, articles)
        drained, killed, survivor = servers["A"], servers["B"], servers["C"]
        assert drained.process is not None and killed.process is not None
        ports = {name: server.port for name, server in servers.items()}
        # A bare comma list of addresses; the client turns it into an "ipv4:" target.
        target_list = ",".join(server.target for server in servers.values())

        with SummarizerClient(target_list, timeout=CALL_TIMEOUT_S) as client:
            assert client.target.startswith("ipv4:")
            figures = [
                f"3 replicas SERVING in {startup_s:.1f} s, ports {ports}; "
                f"warm-up ({len(articles)} calls to each) {warm_up_s:.1f} s"
            ]

            # 1. balance: all three up.
            before = channel_counts(client.target)
            balance = Load(client, "balance", BALANCE_CALLS, articles).start()
            loads.append(balance)
            balance_s = balance.join(PHASE_TIMEOUT_S)
            balance_served = served(servers, balance.request_ids)
            balance_counts = channel_counts(client.target) - before
            figures.append(
                f"balance: {BALANCE_CALLS} calls in {balance_s:.1f} s, ended {dict(balance.codes())}; "
                f"served {shares(balance_served)}; retries {balance_counts.retries}"
            )

            # 2. failover: SIGTERM to A, then SIGKILL to B with calls stuck on it, under load.
            before = channel_counts(client.target)
            failover = Load(client, "failover", FAILOVER_CALLS, articles).start()
            loads.append(failover)
            failover.wait_ended(SIGTERM_AFTER, SIGNAL_WAIT_S)
            at_sigterm = channel_counts(client.target).by_port[ports["A"]]
            drained.process.send_signal(signal.SIGTERM)
            failover.wait_ended(KILL_AFTER, SIGNAL_WAIT_S)
            # Frozen, B takes calls and answers none: they stay in flight until the kill cuts them.
            killed.process.send_signal(signal.SIGSTOP)
            stuck = wait_in_flight(client.target, ports["B"], STUCK_BEFORE_KILL, failover)
            killed.kill()  # SIGKILL
            failover_s = failover.join(PHASE_TIMEOUT_S)
            drained_code = drained.process.wait(timeout=EXIT_TIMEOUT_S)
            failover_counts = channel_counts(client.target) - before
            failover_served = served(servers, failover.request_ids)
            on_a, on_b = failover_counts.by_port[ports["A"]], failover_counts.by_port[ports["B"]]
            lost = failover.request_ids - {o.request_id for o in failover.outcomes}
            not_ok = Counter(f"{o.code} ({o.details})" for o in failover.outcomes if o.code != "OK")
            figures += [
                f"failover: {FAILOVER_CALLS} calls in {failover_s:.1f} s, ended {dict(failover.codes())}, "
                f"lost {len(lost)}; served {shares(failover_served)}",
                f"  A: SIGTERM with {at_sigterm.in_flight} attempts in flight; refused "
                f"{failover_served['A']['UNAVAILABLE']} while draining; exit code {drained_code}",
                f"  B: SIGKILL with {stuck} attempts stuck in flight; {on_b.failed} attempts failed on it",
                f"  client: {failover_counts.attempts} attempts for {failover_counts.calls.started} calls, "
                f"retries {failover_counts.retries}; failed attempts A={on_a.failed} B={on_b.failed}",
                f"  not OK: {dict(not_ok) or 'none'}",
            ]

            # 3. final: C alone.
            final = Load(client, "final", FINAL_CALLS, articles).start()
            loads.append(final)
            final_s = final.join(PHASE_TIMEOUT_S)
            final_served = served(servers, final.request_ids)
            figures.append(
                f"final: {FINAL_CALLS} calls in {final_s:.1f} s, ended {dict(final.codes())}; "
                f"served {shares(final_served)}"
            )
            print("\nreplicas:\n  " + "\n  ".join(figures))

            assert balance.codes() == {"OK": BALANCE_CALLS}
            assert sum(codes["OK"] for codes in balance_served.values()) == BALANCE_CALLS
            for name, codes in balance_served.items():
                # Round robin gives each a third; a fifth leaves room for the first calls, sent
                # while the channel was still connecting to the others.
                assert codes["OK"] >= BALANCE_CALLS // 5, (name, balance_served)

            # Every call sent got a terminal result; every one is OK but for the calls that the
            # draining replica's gRPC core cancelled (see shutdown_cancelled).
            assert not lost
            cancelled = shutdown_cancelled(failover.outcomes)
            assert len(cancelled) <= on_a.failed, (cancelled, on_a)
            # Each OK call's answer was logged by a replica.
            answers = answered_ok(servers, failover.request_ids)
            assert set(answers) == failover.request_ids - {o.request_id for o in cancelled}
            for name in ("A", "B", "C"):
                assert failover_served[name]["OK"] >= 1, (name, failover_served)
            # The calls cut by the kill had no response yet: each was tried again, and ended OK.
            assert on_b.failed >= stuck
            assert failover_counts.retries >= stuck
            assert drained_code == 0, drained.log_tail()

            assert final.codes() == {"OK": FINAL_CALLS}
            assert final_served["C"]["OK"] == FINAL_CALLS
            assert client.check_health(timeout=10) == "SERVING"  # only C is left to answer it
            for load in loads:
                check_summaries(load.outcomes)
        assert survivor.terminate() == 0, survivor.log_tail()
    finally:
        for load in loads:
            load.stop()
        for server in servers.values():
            server.kill()
