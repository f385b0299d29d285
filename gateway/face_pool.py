"""Face work in worker processes that never outlive the process that started them.

dlib is not thread-safe (``gateway.faces.vision`` serialises its calls with a lock), so threads
would use one core; processes use them all. They are spawned, not forked: the parent has MQTT
and database threads that a fork would copy in a broken state. Each worker loads the dlib
models once, at start (2-3 s), not on the first tanker of the day.

A worker left behind when its parent dies would block forever on its task queue (it holds the
queue's write end itself, so it never sees end-of-file), and keep multiprocessing's resource
tracker alive with it. ``hazgate serve`` shuts its pool down on SIGTERM; for SIGKILL, an
out-of-memory kill or a crash in dlib, every worker:

* asks Linux for SIGKILL when its parent goes (``prctl(PR_SET_PDEATHSIG)``). Linux sends it
  when the *thread* that spawned the worker ends, so :func:`face_pool` spawns all workers at
  once from the thread that creates the pool (the service's main or lifespan thread, or the
  gate pipeline's own thread when it replaces a broken pool, both alive as long as the pool);
* and, where prctl is not available or the parent was gone before it took effect, watches
  ``os.getppid()`` every ``PARENT_POLL_S`` and leaves when it changes (the orphan was adopted).

With the workers gone, the resource tracker sees end-of-file on its pipe and exits by itself.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

logger = logging.getLogger(__name__)

# From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
# How often a worker checks that its parent is still there (the fallback to PR_SET_PDEATHSIG).
PARENT_POLL_S = 0.5


def _noop() -> None:
    """A task that only makes the pool start a worker."""


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` does (see the module docstring)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:  # no libc symbol: the watch below still works
            logger.warning("prctl unavailable (%s); watching the parent instead", exc)
    if os.getppid() != parent_pid:
        os._exit(0)  # the parent died before we could ask to follow it

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_init(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    from gateway.faces import warm_up

    warm_up()


def face_pool(workers: int) -> ProcessPoolExecutor:
    """A spawned pool of ``workers`` face processes, all started now from this thread."""
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init, initargs=(os.getpid(),)
    )
    # ProcessPoolExecutor spawns a worker per submit while none is idle; the workers are still
    # loading their models, so these start all of them, here (see the module docstring). Not
    # waited for: the models load in the background.
    for _ in range(workers):
        pool.submit(_noop)
    return pool
