"""Where units run: local worker processes, or a Ray cluster. Engines only schedule; every unit is
analysed by :func:`moodlens.batch.analysis.analyze_unit` in a worker that built one analyzer.

Both engines retry a unit whose worker died (``MAX_ATTEMPTS`` in all) and hand back results as they
finish, in any order. Leaving ``run``'s generator early (Ctrl-C, closing it) stops the workers at
once: local worker processes are killed (what they were doing is redone by the next run), Ray
actors too. Local workers ignore Ctrl-C themselves (the driver decides) and exit as soon as their
driver is gone, even killed.

Joining a Ray cluster fails within seconds when no cluster answers at the address
(:class:`EngineError`): Ray itself would retry for minutes.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from moodlens.batch.analysis import AnalysisSettings, Unit, UnitResult, analyze_unit
from moodlens.errors import MoodlensError

MAX_ATTEMPTS = 3


class EngineError(MoodlensError):
    """An engine cannot start: no Ray cluster answers at the address given, or it refused us."""


_worker: dict[str, Any] = {}


def _die_with_driver() -> None:
    """Exit this worker as soon as the process that started it is gone (killed, crashed): a
    driver's workers never go on with work no one will collect."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])  # ready when the driver's end closes
        os._exit(1)

    threading.Thread(target=watch, name="moodlens-driver-watch", daemon=True).start()


def _init_worker(settings: AnalysisSettings) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the driver stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_driver()
    # One analyzer per worker process, built once: the models load here, not per unit.
    _worker["settings"] = settings
    _worker["analyzer"] = settings.analyzer()


def _stop(pool: ProcessPoolExecutor, *, finished: bool) -> None:
    """Shut the pool down: after the last result, normally; otherwise kill its workers first, so
    that nothing waits for the units they were running."""
    if finished:
        pool.shutdown(wait=True)
        return
    # ProcessPoolExecutor has no public way to stop running work before Python 3.14
    # (terminate_workers); its processes are taken before shutdown forgets them.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    # With its workers dead the pool's manager thread ends at once; waiting for it keeps it from
    # racing the interpreter's exit (an "OSError: Bad file descriptor" from its wake-up pipe).
    pool.shutdown(wait=True, cancel_futures=True)


def _run_unit(unit: Unit) -> UnitResult:
    return analyze_unit(unit, _worker["analyzer"], _worker["settings"])


class Engine(Protocol):
    name: str

    def run(self, units: list[Unit], settings: AnalysisSettings) -> Iterator[UnitResult]: ...


class LocalEngine:
    """Worker processes on this machine (one per core by default), each holding one analyzer."""

    name = "local"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers

    def run(self, units: list[Unit], settings: AnalysisSettings) -> Iterator[UnitResult]:
        # spawn, not fork: ONNX Runtime's threads do not survive a fork.
        context = multiprocessing.get_context("spawn")
        attempts = {id(u): 0 for u in units}
        pending = list(units)
        while pending:
            pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_init_worker, initargs=(settings,)
            )
            finished = False
            try:
                futures: dict[Future[UnitResult], Unit] = {}
                for unit in pending:
                    attempts[id(unit)] += 1
                    futures[pool.submit(_run_unit, unit)] = unit
                pending = []
                broken = False
                while futures:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in done:
                        unit = futures.pop(future)
                        try:
                            yield future.result()
                        except BrokenProcessPool:
                            broken = True
                            pending.append(unit)
                    if broken:
                        # A worker died (killed, out of memory): the pool is unusable. Its units
                        # go to a fresh pool; a unit that keeps killing workers fails.
                        pending.extend(futures.values())
                        futures.clear()
                finished = True
            finally:
                _stop(pool, finished=finished)
            retry = []
            for unit in pending:
                if attempts[id(unit)] >= MAX_ATTEMPTS:
                    yield UnitResult(unit, error=f"{unit.label}: the worker died {MAX_ATTEMPTS} times")
                else:
                    retry.append(unit)
            pending = retry


class RayEngine:
    """Ray tasks on an actor pool: each actor holds one analyzer; a dead actor is restarted and its
    task retried by Ray (``max_restarts``/``max_task_retries``).

    ``address``: None or ``"local"`` starts a private Ray on this machine; anything else
    (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``) joins a running cluster, which must answer
    within ``connect_timeout_s`` (:meth:`connect`)."""

    name = "ray"
    #: Seconds joining a running cluster may take before it is an error (Ray alone retries for
    #: more than a minute when nothing answers; joining a live cluster takes one or two).
    connect_timeout_s = 10.0

    def __init__(self, address: str | None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers
        self._started = False  # whether this engine called ray.init (and so shuts it down)

    def connect(self) -> None:
        """Start or join Ray now, unless it already runs in this process. Raises
        :class:`EngineError` within ``connect_timeout_s`` when no cluster answers at the address."""
        from moodlens.errors import extra_required

        with extra_required("ray", "ray"):
            import ray

        if ray.is_initialized():
            return
        options: dict[str, Any] = {
            "address": self.address,
            "ignore_reinit_error": True,
            "log_to_driver": False,
            "include_dashboard": False,
        }
        if self.address in (None, "local"):
            ray.init(**options)
            self._started = True
            return
        deadline = time.monotonic() + self.connect_timeout_s
        where = _endpoint(self.address)
        if where is not None:
            _answers(self.address, *where, timeout=min(5.0, self.connect_timeout_s))
        failure: list[BaseException] = []

        def join() -> None:
            try:
                ray.init(**options)
            except BaseException as exc:  # handed to connect(), raised there
                failure.append(exc)

        # Off the main thread Ray leaves SIGTERM to Python's default (the process ends; the
        # cluster drops a dead driver's actors) and says so; that note is not for our users.
        quiet = _Without("SIGTERM handler is not set")
        logging.getLogger("ray._private.worker").addFilter(quiet)

        # ray.init cannot be interrupted; a daemon thread lets this process give up on it (and
        # exit) when the address answers but no Ray cluster does.
        thread = threading.Thread(target=join, name="moodlens-ray-connect", daemon=True)
        thread.start()
        thread.join(max(0.0, deadline - time.monotonic()))
        logging.getLogger("ray._private.worker").removeFilter(quiet)
        if thread.is_alive():
            raise EngineError(
                f"--address {self.address}: no Ray cluster answered within {self.connect_timeout_s:g} s "
                "(is Ray running there? 'ray status' on the head node says; 'ray start --head' starts one)"
            )
        if failure:
            exc = failure[0]
            raise EngineError(f"--address {self.address}: cannot join the Ray cluster ({exc})") from None
        self._started = True

    def close(self) -> None:
        """Shut Ray down if :meth:`connect` started or joined it (not when it ran before)."""
        if self._started:
            import ray

            self._started = False
            ray.shutdown()

    def run(self, units: list[Unit], settings: AnalysisSettings) -> Iterator[UnitResult]:
        self.connect()
        import ray

        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
            count = max(1, min(self.workers or cpus, cpus, len(units)))

            @ray.remote(num_cpus=1, max_restarts=MAX_ATTEMPTS - 1, max_task_retries=MAX_ATTEMPTS - 1)
            class Worker:
                def __init__(self, settings: AnalysisSettings) -> None:
                    self.settings = settings
                    self.analyzer = settings.analyzer()

                def run(self, unit: Unit) -> UnitResult:
                    return analyze_unit(unit, self.analyzer, self.settings)

            actors = [Worker.remote(settings) for _ in range(count)]  # type: ignore[attr-defined]
            idle = list(actors)
            queue = deque(units)
            running: dict[Any, tuple[Unit, Any]] = {}

            def submit() -> None:
                while idle and queue:
                    actor, unit = idle.pop(), queue.popleft()
                    running[actor.run.remote(unit)] = (unit, actor)

            submit()
            try:
                while running:
                    done, _ = ray.wait(list(running), num_returns=1)
                    unit, actor = running.pop(done[0])
                    try:
                        result = ray.get(done[0])
                    except ray.exceptions.RayError as exc:  # Ray's retries are exhausted: it fails
                        why = f"{unit.label}: a Ray worker failed ({type(exc).__name__})"
                        result = UnitResult(unit, error=why)
                    idle.append(actor)
                    submit()
                    yield result
            finally:
                if running:  # left early (Ctrl-C): the actors' work in flight is not waited for
                    for actor in actors:
                        ray.kill(actor)
        finally:
            self.close()


class _Without(logging.Filter):
    """Drops the log records whose message contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _endpoint(address: str) -> tuple[str, int] | None:
    """The host and port of ``HOST:PORT`` or ``ray://HOST:PORT``; None for ``auto`` and the like
    (Ray finds the cluster itself)."""
    target = address.split("://", 1)[1] if "://" in address else address
    host, colon, port = target.rstrip("/").rpartition(":")
    if not colon or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def _answers(address: str, host: str, port: int, *, timeout: float) -> None:
    """Raise :class:`EngineError` unless something accepts a connection at ``host:port``. Ray
    itself connects to this machine's address where the host is a loopback one, so that is
    tried too."""
    hosts = [host]
    if host in ("localhost", "127.0.0.1", "::1"):
        try:
            from ray.util import get_node_ip_address

            hosts.append(get_node_ip_address())  # type: ignore[no-untyped-call]
        except Exception:  # only a second place to look
            pass
    reason = ""
    for candidate in hosts:
        try:
            with socket.create_connection((candidate, port), timeout=timeout):
                return
        except TimeoutError:
            reason = f"nothing answered within {timeout:g} s"
        except OSError as exc:
            reason = exc.strerror or str(exc)
    raise EngineError(
        f"--address {address}: no Ray cluster there ({reason}); start one with 'ray start --head', "
        "give the address it prints, or leave out --address for a Ray instance on this machine"
    )
