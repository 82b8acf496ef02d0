"""The run loop: set up, drive clients beside the nemesis, heal, final reads, check, report.

Phases of one test (Jepsen's shape):

1. write ``test.json`` (before anything starts: a crash still leaves the config);
2. the backend starts every node (a node that does not come up: exit 255,
   naming it, with its log tail, after everything is stopped);
3. main phase: client workers run the workload's generator (rate, time limit,
   op limit) while the nemesis injects faults on its own schedule beside them
   (:mod:`.runnemesis`: the schedule is made up front and saved as data);
4. final phase (:mod:`.final`): the nemesis stops and heals every fault, the cluster gets time
   to recover, and the workload's final ops (e.g. final reads) are retried
   until they succeed or the recovery deadline passes (independent keys: the
   keys used last are read on every node, where diverged replicas show);
5. teardown (always, in ``finally``), check, ``results.json``, ``report.html``.

SIGINT/SIGTERM end the main phase at once; healing, teardown, checking and the
report still happen, bounded so the whole stop takes well under 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any, TextIO

from splitbrain.backends.base import Backend, ClusterSpec, Measurement
from splitbrain.checkers.result import Result
from splitbrain.errors import (
    EXIT_HARNESS,
    EXIT_INTERRUPTED,
    HarnessError,
    SplitbrainError,
    UsageError,
    exit_for_valid,
)
from splitbrain.harness import generator as g
from splitbrain.harness.client import Recorder, Workers
from splitbrain.harness.config import Test
from splitbrain.harness.final import FinalOps
from splitbrain.harness.observe import Observers
from splitbrain.harness.progress import Progress
from splitbrain.harness.report import write_report
from splitbrain.harness.runnemesis import make_schedule, runner_for, save_applied
from splitbrain.harness.sections import RunFacts, sections
from splitbrain.harness.store import (
    attach_log,
    detach_log,
    forget_run,
    latest_target,
    make_run_dir,
    update_latest,
)
from splitbrain.harness.verdict import check, summarize
from splitbrain.history import HistoryWriter
from splitbrain.results import RunOutcome
from splitbrain.systems.base import System
from splitbrain.systems.capabilities import wait_serving
from splitbrain.workloads.base import Workload

log = logging.getLogger("splitbrain.harness")

#: bounds on the stopping path (seconds), so an interrupted run ends within 15 s
HEAL_TIMEOUT_S = 5.0
FINAL_HEAL_TIMEOUT_S = 90.0  # the final phase's heal: restarts killed nodes (docker: up to 60 s each, in parallel)
TEARDOWN_TIMEOUT_S = 20.0
INTERRUPTED_CHECK_TIMEOUT_S = 3.0
CLUSTER_CHECK_TIMEOUT_S = 20.0
#: how long a system with a readiness probe may take, after its ports open, to serve
READY_TIMEOUT_S = 180.0


class Run:
    """One test run. Construct, then ``await run.execute()``; every resource is released by the end."""

    def __init__(self, test: Test, system: System, workload: Workload, backend: Backend,
                 live: bool = False, stream: TextIO | None = None) -> None:
        self.test, self.system, self.workload, self.backend = test, system, workload, backend
        self.live = live
        self.stream = stream  # plain progress lines (stderr when stdout is reserved for --json)
        self.stop = asyncio.Event()  # end the main phase now
        self.interrupted = False
        self.phase = "setup"
        self.nemesis: Any = None
        self._schedule: Any = None
        self.recorder: Recorder | None = None
        self.session: Any = None
        self.session_summary: dict[str, Any] | None = None
        self.observers: Observers | None = None  # messages and node states, for the report
        self.observed: dict[str, Any] = {}
        self.lost_control: list[str] = []  # why the harness cannot vouch for this run (exit 255, never valid)
        # the system's own name, not test.system: that may be the path of a system file
        self.run_dir = make_run_dir(Path(test.store), system.name, test.workload)
        test.run_id = f"{system.name}-{test.workload}/{self.run_dir.name}"
        test.command = test.rerun_command()
        test.start_wall_time = time.time()  # refined to history time 0 once the cluster is up
        test.save(self.run_dir)
        self._previous_latest = latest_target(Path(test.store))
        update_latest(Path(test.store), self.run_dir)

    # ------------------------------------------------------------------ signals

    def interrupt(self, why: str = "interrupted") -> None:
        if not self.interrupted:
            log.warning("%s: stopping", why)
        self.interrupted = True
        self.stop.set()

    @contextlib.contextmanager
    def _signals(self):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.interrupt, f"signal {sig.name}")
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    # ------------------------------------------------------------------ phases

    def snapshot(self) -> dict[str, Any]:
        rec = self.recorder
        return {
            "elapsed_s": rec.now_s() if rec else 0.0,
            "counts": dict(rec.counts) if rec else {"invoke": 0, "ok": 0, "fail": 0, "info": 0},
            "active": list(getattr(self.nemesis, "active", []) or []),
            "faults": rec.faults if rec else 0,
            "phase": self.phase,
        }

    async def execute(self) -> RunOutcome:
        handler = attach_log(self.run_dir)
        progress = Progress(self.snapshot, self.live, self.stream)
        ticker: asyncio.Task[None] | None = None
        writer = HistoryWriter(self.run_dir / "history.jsonl")
        error: str | None = None
        setup_failed: BaseException | None = None
        try:
            with self._signals():
                log.info("run %s: %s", self.test.run_id, self.test.command)
                progress.message(f"run dir {self.run_dir}")

                async def tick() -> None:
                    while True:
                        progress.tick()
                        await asyncio.sleep(0.25)

                ticker = asyncio.create_task(tick())
                try:
                    await self._setup()
                except SplitbrainError as e:  # keeps its exit code: a refused host key is a usage error
                    log.error("setup failed: %s", e)  # harness.log: a node's command, exit status and last output
                    setup_failed = e
                except Exception as e:  # noqa: BLE001 - a backend crash is a harness failure
                    log.exception("setup failed")
                    setup_failed = HarnessError(f"cluster setup failed: {type(e).__name__}: {e}")
                if setup_failed is None and not self.interrupted:
                    self.recorder = Recorder(writer)
                    self.test.start_wall_time = self.recorder.start_wall_time
                    image = getattr(self.backend, "image", None)
                    if image and not self.test.backend_options.get("image"):
                        self.test.backend_options["image"] = image  # test.json names the exact image run
                    self.test.save(self.run_dir)
                    try:
                        self.observers = Observers(self.backend, self.system, list(self.test.nodes),
                                                   self.recorder.t0_ns, self.run_dir)
                        await self._open_session()
                        await self._main_phase()
                        await self._final_phase()
                        if not self.interrupted:
                            self.lost_control += await self._cluster_check()
                    except Exception as e:  # noqa: BLE001 - record, heal, tear down, still check
                        log.exception("run failed")
                        error = f"{type(e).__name__}: {e}"
                    finally:
                        await self._close_session()
                        if self.observers is not None:
                            await self.observers.stop_polling()
        finally:
            with self._signals():  # a second Ctrl-C must not skip teardown
                self.phase = "teardown"
                await self._heal()
                await self._teardown()
                save_applied(self.run_dir, self._schedule, self.nemesis)
                if self.observers is not None:
                    self.observed = self.observers.finish()
            if ticker is not None:
                ticker.cancel()
            progress.close()
            writer.close()
        if isinstance(setup_failed, UsageError) and self.recorder is None:
            # Refused before anything ran (bad host key, too few hosts): leave no trace in the store.
            detach_log(handler)
            forget_run(Path(self.test.store), self.run_dir, self._previous_latest)
            raise setup_failed
        try:
            return self._judge(writer, error, setup_failed)
        finally:
            detach_log(handler)

    async def _setup(self) -> None:
        spec = ClusterSpec(system=self.system, nodes=list(self.test.nodes), run_dir=str(self.run_dir),
                           run_id=self.test.run_id, bug=self.test.bug, options=dict(self.test.backend_options),
                           disk=any(f.partition(":")[0] == "disk" for f in self.test.nemesis)
                           or str(self.test.backend_options.get("lazyfs", "")).lower() in ("1", "true", "yes"))
        task = asyncio.create_task(self.backend.setup(spec))
        stopper = asyncio.create_task(self.stop.wait())
        start = time.monotonic()
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            return
        task.result()
        log.info("cluster of %d up in %.2f s", len(self.test.nodes), time.monotonic() - start)
        nodes = {n: self.backend.client_address(n) for n in self.test.nodes}
        ready = asyncio.create_task(wait_serving(self.system, nodes, READY_TIMEOUT_S))
        stopper = asyncio.create_task(self.stop.wait())
        await asyncio.wait({ready, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not ready.done():
            ready.cancel()
            with contextlib.suppress(BaseException):
                await ready
            return
        if ready.result():
            log.info("cluster of %d ready (serving) in %.2f s", len(self.test.nodes), time.monotonic() - start)

    async def _open_session(self) -> None:
        """Start the system's harness-side parts, if it has any (see ``SessionContext``)."""
        opener = getattr(self.system, "open_session", None)
        if opener is None or self.recorder is None:
            return
        from splitbrain.systems.base import SessionContext

        self.session = opener(SessionContext(nodes=list(self.test.nodes), address=self.backend.client_address,
                                             run_dir=str(self.run_dir), origin_ns=self.recorder.t0_ns,
                                             seed=self.test.seed))
        await self.session.start()

    async def _close_session(self) -> None:
        if self.session is None:
            return
        try:
            self.session_summary = await asyncio.wait_for(self.session.stop(), HEAL_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 - its summary is extra; the verdict stands without it
            log.error("system session did not stop cleanly: %s: %s", type(e).__name__, e)
        self.session = None

    async def _main_phase(self) -> None:
        test, rec = self.test, self.recorder
        assert rec is not None
        self.phase = "main"
        gen: g.Generator = self._requests()
        gen = g.rate(gen, test.rate, test.rng("stagger"))
        if test.max_ops is not None:
            gen = g.Limit(gen, test.max_ops)
        gen = g.Until(g.TimeLimit(gen, test.time_limit_s), self.stop.is_set)
        self.workers = Workers(system=self.system, workload=self.workload, recorder=rec, nodes=test.nodes,
                               address=self.backend.client_address, concurrency=test.concurrency,
                               op_timeout_s=test.op_timeout_s)
        nemesis_stop = asyncio.Event()
        nemesis_task = None
        self._schedule = make_schedule(test, self.system, self.run_dir)
        if self._schedule.ops:
            self.nemesis = runner_for(self._schedule, self.backend, self.system, list(test.nodes), rec.nemesis,
                                      rec.now_s)
            nemesis_task = asyncio.create_task(self.nemesis.run(nemesis_stop))
        clients = asyncio.create_task(self.workers.run(gen))
        stopper = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({clients, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not clients.done():
                # Interrupted: in-flight ops get their timeout to finish, then are cancelled
                # (a cancelled op is recorded info: it may have happened).
                await asyncio.wait({clients}, timeout=min(test.op_timeout_s, 3.0) + 0.5)
            if not clients.done():
                clients.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clients
        finally:
            stopper.cancel()
            nemesis_stop.set()
            if nemesis_task is not None:
                done, _ = await asyncio.wait({nemesis_task}, timeout=HEAL_TIMEOUT_S)
                if not done:
                    nemesis_task.cancel()
                    with contextlib.suppress(BaseException):
                        await nemesis_task
                elif nemesis_task.exception() is not None:
                    log.error("nemesis failed: %r", nemesis_task.exception())

    def _requests(self) -> g.Generator:
        """The workload's ops: on independent keys when the workload has them (see workloads.independent)."""
        from splitbrain.workloads.independent import IndependentKeys, first_key, key_spec_for, min_lifetime_s

        min_s = min_lifetime_s(self.test.nemesis_interval_s) if self.test.nemesis else 0.0
        spec = key_spec_for(self.workload, self.test.ops_per_key, self.test.clients_per_key, min_s)
        if spec is None:
            return g.FromIter(self.workload.requests(self.test.rng("workload")))
        self.keyed = IndependentKeys(self.workload.key_stream, self.test.rng("workload"),  # type: ignore[attr-defined]
                                     self.test.concurrency, spec, first_key(self.test.rng("keys")))
        return self.keyed

    async def _final_phase(self) -> None:
        """Heal everything, give the cluster time to recover, then the workload's final ops."""
        if self.interrupted:
            return
        self.phase = "heal"
        # Not interrupted: the heal may take what restarting killed nodes takes (their bring-up
        # deadline), not the 5 s bound of the stopping path; a heal cut short would leave nodes down
        # and the run judged lost.
        await self._heal(FINAL_HEAL_TIMEOUT_S)
        final = FinalOps(self.test, self.system, self.workload, self.backend.client_address, self.workers,
                         self.stop, getattr(self, "keyed", None))
        finals = final.requests()
        if not finals:
            return
        settle_s = float(getattr(self.workload, "final_wait_s", 0.0))
        if settle_s > 0:  # eventually consistent workloads: let the healed cluster converge first
            self.phase = "wait"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), settle_s)
        self.phase = "final"
        await final.run(finals)

    async def _cluster_check(self) -> list[str]:
        """After the final heal: is every node still the harness's? A node that is gone (its container
        removed, its process killed by someone else) or that died outside the nemesis means the run
        did not test what it claims: measured by the backend, not remembered."""
        try:
            v = await asyncio.wait_for(self.backend.verify(), CLUSTER_CHECK_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 - a backend that cannot even look has lost the cluster
            return [f"cannot verify the cluster after the run: {type(e).__name__}: {e}"]
        m = Measurement.of(v)
        lost = [f"node {n} is not running after the final heal" for n in m.killed or []]
        lost += [str(x) for x in m.lost]
        for why in lost:
            log.error("lost control: %s", why)
        return lost

    async def _heal(self, timeout_s: float = HEAL_TIMEOUT_S) -> None:
        """Heal within ``timeout_s``; a Ctrl-C meanwhile cuts a long heal short (the stopping path
        heals again within its own 5 s bound), so an interrupted run still ends promptly."""
        if self.nemesis is None:
            return
        heal = asyncio.create_task(self.nemesis.heal())
        stopper = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({heal, stopper} if timeout_s > HEAL_TIMEOUT_S else {heal}, timeout=timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
            if not heal.done():
                heal.cancel()
                with contextlib.suppress(BaseException):
                    await heal
                log.error("heal failed: %s", "interrupted" if self.stop.is_set() else f"not done in {timeout_s:.0f} s")
            elif heal.exception() is not None:
                e = heal.exception()
                log.error("heal failed: %s: %s", type(e).__name__, e)
        finally:
            stopper.cancel()

    async def _teardown(self) -> None:
        try:
            await asyncio.wait_for(self.backend.teardown(), TEARDOWN_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 - report, never mask the run's own outcome
            log.error("teardown failed: %s: %s", type(e).__name__, e)

    # ------------------------------------------------------------------ verdict

    def _check(self, history: Any, timeout_s: float) -> dict[str, Result]:
        """Run the checkers; a signal meanwhile ends them with ``unknown`` rather than losing the results."""

        def on_term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            return check(history, self.workload.checkers(), timeout_s, self.test.checker_options)
        except KeyboardInterrupt:
            self.interrupted = True
            return {spec.key: Result(spec.key, "unknown", summary="check interrupted")
                    for spec in self.workload.checkers()}
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _judge(self, writer: HistoryWriter, error: str | None, setup_failed: BaseException | None) -> RunOutcome:
        self.phase = "check"
        history = writer.history()
        timeout = INTERRUPTED_CHECK_TIMEOUT_S if self.interrupted else self.test.check_timeout_s
        failure = getattr(setup_failed, "failure", None)
        facts = RunFacts(
            system=self.system, system_name=getattr(self.system, "name", "system"), nodes=list(self.test.nodes),
            membership="membership" in {f.partition(":")[0] for f in self.test.nemesis} or bool(self.test.schedule),
            interrupted=self.interrupted, error=error or (str(setup_failed) if setup_failed else None),
            start_failure=failure.to_json() if failure is not None else None,
            session_summary=self.session_summary, observed=self.observed,
            nemesis_errors=list(getattr(self.nemesis, "errors", []) or []), lost_control=self.lost_control)
        extra, error = sections(history, facts)
        if setup_failed is not None:
            summarize(history, {}, self.test.seed, extra).save(self.run_dir)
            write_report(self.run_dir)
            raise setup_failed
        completed = sum(1 for op in history.ops if op.is_client and op.type != "invoke")
        verdicts = self._check(history, timeout) if completed or not self.interrupted else {}
        results = summarize(history, verdicts, self.test.seed, extra)
        if error and results.valid is True:
            results.valid = "unknown"  # whatever the checkers saw, the harness cannot vouch for it
        if error:
            code = EXIT_HARNESS
        elif self.interrupted and completed == 0:
            code = EXIT_INTERRUPTED
        else:
            code = exit_for_valid(results.valid)
        results.sections["exit_code"] = code
        results.save(self.run_dir)
        write_report(self.run_dir)
        return RunOutcome.of(self.run_dir, code, results, error)
