"""Client workers: turn generator answers into wire calls, and outcomes into history ops.

One asyncio task per worker thread, each bound to one node. The outcome rules
are Jepsen's:

* the system answered ``ok`` -> ``ok`` with the result;
* a definite error (``definite: true``, or a refused connection: nothing was
  sent) -> ``fail``: it did not and will not happen;
* a timeout, a lost connection or an indefinite error -> ``info``: it may
  have happened, at any later time. That process is retired: the worker goes
  on as process ``old + concurrency`` with a fresh connection, so no process
  ever has two ops in flight. Ops that cannot take effect (the workload's
  ``no_effect``, i.e. reads) are recorded ``fail`` instead and keep their process.

A worker whose node cannot serve (a definite failure that is not an answer
about the data, like ``cas-mismatch``: not-leader, unavailable, connection
refused) backs off before its next op, 50 ms doubling to 0.5 s, until its
node serves again. Without that, under a rate limit the workers on a
minority or a dead node, which fail in a millisecond, took most of the op
slots (86% of a Raft run's ops were not-leader answers at rate 0), and the
majority side, where the interesting ops run, got few.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from splitbrain.harness.generator import POLL_S, Context, Generator, Wait
from splitbrain.history import NEMESIS, HistoryWriter, Op
from splitbrain.systems.base import System, SystemClient
from splitbrain.workloads.base import Request, Workload

log = logging.getLogger("splitbrain.harness")


class Recorder:
    """Writes ops to ``history.jsonl`` with times relative to the test's start, and counts them."""

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer
        self.t0_ns = time.monotonic_ns()
        self.start_wall_time = time.time()
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.faults = 0

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.t0_ns

    def now_s(self) -> float:
        return self.now_ns() / 1e9

    def client(self, process: int, typ: str, req: Request, value: Any = None,
               node: str | None = None, error: str | None = None) -> Op:
        self.counts[typ] += 1
        return self.writer.write(Op(index=-1, process=process, type=typ, f=req.f, value=value,
                                    time=self.now_ns(), key=req.key, node=node, error=error))

    def nemesis(self, typ: str, f: str, value: Any) -> None:
        """The callback the nemesis records its start/stop events through."""
        if f.startswith("start"):
            self.faults += 1
        self.writer.write(Op(index=-1, process=NEMESIS, type=typ, f=f, value=value, time=self.now_ns()))


def open_client(system: System, address: tuple[str, int]) -> SystemClient:
    """A client for one node. A system whose clients depend on the run's options (a seeded bug,
    ``--system-opt``) was already configured with them (:class:`~splitbrain.api.Configurable`)."""
    return system.client(address[0], address[1])


class Outcome:
    OK, FAIL, INFO = "ok", "fail", "info"
    #: a definite failure because the node cannot serve now (recorded ``fail``)
    REFUSED = "refused"


#: definite errors that answer the op (the data or the op said no), not a node that cannot serve:
#: the wire protocol's and Maelstrom's names (its error texts read "22 precondition-failed: ...")
ANSWERS = ("cas-mismatch", "unsupported", "not-supported", "key-does-not-exist", "key-already-exists",
           "precondition-failed", "txn-conflict", "abort", "malformed-request")
#: back-off after a refused op: first, and the cap of its doubling
BACKOFF_S, BACKOFF_MAX_S = 0.05, 0.5


class Workers:
    """The pool of client workers sharing one generator."""

    def __init__(self, *, system: System, workload: Workload, recorder: Recorder, nodes: list[str],
                 address: Callable[[str], tuple[str, int]], concurrency: int, op_timeout_s: float) -> None:
        self.system, self.workload, self.recorder = system, workload, recorder
        self.nodes, self.address = nodes, address
        self.concurrency, self.op_timeout_s = concurrency, op_timeout_s
        self.in_flight = 0
        self.max_process = concurrency - 1

    async def run(self, gen: Generator) -> None:
        """Run every worker until the generator is exhausted for all of them."""
        await asyncio.gather(*(self._worker(t, gen) for t in range(self.concurrency)))

    def node_for(self, thread: int) -> str:
        return self.nodes[thread % len(self.nodes)]

    def fresh_process(self) -> int:
        """A process number nobody has used (final-phase ops)."""
        self.max_process += 1
        return self.max_process

    async def _worker(self, thread: int, gen: Generator) -> None:
        process = thread
        node = self.node_for(thread)
        client = open_client(self.system, self.address(node))
        backoff = 0.0
        try:
            while True:
                ans = gen.next(Context(self.recorder.now_s(), process, thread, self.in_flight))
                if ans is None:
                    return
                if isinstance(ans, Wait):
                    await asyncio.sleep(max(0.0, min(ans.until_s - self.recorder.now_s(), 0.25)) or POLL_S)
                    continue
                outcome = await self.invoke(client, process, node, ans)
                if outcome == Outcome.REFUSED:
                    backoff = min(BACKOFF_MAX_S, backoff * 2 or BACKOFF_S)
                    await asyncio.sleep(backoff)
                else:
                    backoff = 0.0
                if outcome == Outcome.INFO:
                    _close_later(client)
                    process += self.concurrency
                    self.max_process = max(self.max_process, process)
                    client = open_client(self.system, self.address(node))
        finally:
            _close_later(client)

    async def invoke(self, client: SystemClient, process: int, node: str, req: Request) -> str:
        """Invoke one op and record its invocation and completion; returns the outcome type."""
        rec = self.recorder
        rec.client(process, "invoke", req, req.value, node=node)
        self.in_flight += 1
        try:
            op, key, value = self.workload.to_wire(req)
            try:
                resp = await client.invoke(op, key, value, self.op_timeout_s)
            except ConnectionRefusedError as e:
                rec.client(process, "fail", req, None, node=node, error=f"connection refused: {e}")
                return Outcome.REFUSED
            except TimeoutError:
                return self._indefinite(process, node, req, "timeout")
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
                return self._indefinite(process, node, req, f"{type(e).__name__}: {e}")
            served = resp.get("node") or node
            if resp.get("ok"):
                rec.client(process, "ok", req, self.workload.from_wire(req, resp.get("value")), node=served)
                return Outcome.OK
            err = str(resp.get("error") or "error")
            if resp.get("definite"):
                rec.client(process, "fail", req, None, node=served, error=err)
                return Outcome.FAIL if any(a in err for a in ANSWERS) else Outcome.REFUSED
            return self._indefinite(process, served, req, err)
        except asyncio.CancelledError:
            rec.client(process, "info", req, None, node=node, error="cancelled: run stopped")
            raise
        except Exception as e:  # noqa: BLE001 - a client bug must not lose the op's record
            log.exception("client error on %s", req)
            return self._indefinite(process, node, req, f"client error: {type(e).__name__}: {e}")
        finally:
            self.in_flight -= 1

    def _indefinite(self, process: int, node: str, req: Request, error: str) -> str:
        if req.f in self.workload.no_effect:
            self.recorder.client(process, "fail", req, None, node=node, error=f"indefinite: {error}")
            return Outcome.FAIL
        self.recorder.client(process, "info", req, None, node=node, error=error)
        return Outcome.INFO


_closing: set[asyncio.Task[None]] = set()


def _close_later(client: SystemClient) -> None:
    """Close a client without waiting on it (a paused node can hold a close for long)."""

    async def close() -> None:
        try:
            await asyncio.wait_for(client.close(), 1.0)
        except Exception:  # noqa: BLE001 - best effort
            pass

    try:
        task = asyncio.get_running_loop().create_task(close())
    except RuntimeError:
        return
    _closing.add(task)
    task.add_done_callback(_closing.discard)
