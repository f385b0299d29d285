"""Face work for the gate, off the pipeline's thread: ID-card photos analysed as soon as the card
is read, live faces compared in worker processes (gateway/face_pool.py), results handed back as
values. A broken pool is replaced on the pipeline's next turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from checks import FaceEvidence, FaceProblem
from gateway.face_match import CardResult, analyze_card, face_evidence
from gateway.face_pool import face_pool
from gateway.faces import FaceSettings
from gateway.passage import FaceInput, IdCardInput

logger = logging.getLogger(__name__)

# (evidence, timings in ms): called from a pool thread, so it must only hand off.
FacesDone = Callable[[FaceEvidence, dict[str, float]], None]


class FaceWork:
    def __init__(self, faces: FaceSettings, workers: int) -> None:
        self.faces = faces
        self.workers = workers
        self._pool_instance: ProcessPoolExecutor | None = None  # started in start()
        self._broken = False
        self._cards: dict[str, Future[CardResult]] = {}  # ID-card photo work, by event id

    @property
    def _pool(self) -> ProcessPoolExecutor:
        if self._pool_instance is None:
            raise RuntimeError("the gate pipeline's face work is not started")
        return self._pool_instance

    def start(self) -> None:
        # The workers start now, from the starting thread, and load the models at start-up
        # rather than on the first tanker of the day (see gateway/face_pool.py).
        self._pool_instance = face_pool(self.workers)

    def stop(self) -> None:
        if self._pool_instance is not None:
            # Not waited for: a worker still loading its models (seconds on a busy machine)
            # would hold up the shutdown. The workers exit on their own, and die with this
            # process if it ends first (gateway/face_pool.py).
            self._pool_instance.shutdown(wait=False, cancel_futures=True)

    def renew_if_broken(self) -> None:
        """A face worker died (out of memory, a crash in dlib): start a fresh pool."""
        if self._broken:
            self._broken = False
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool_instance = face_pool(self.workers)

    def problem(self, message: str) -> FaceEvidence:
        return FaceEvidence(
            threshold=self.faces.match_threshold, problem=FaceProblem.FACE_QUALITY, problem_message=message
        )

    def card_read(self, card: IdCardInput) -> None:
        """Start on the card photo now: by the time the face arrives, half the work is done."""
        self._cards[card.event_id] = self._pool.submit(analyze_card, card.photo, self.faces)

    def forget(self, cards: list[IdCardInput]) -> None:
        for card in cards:
            self._cards.pop(card.event_id, None)

    def compare(self, card: IdCardInput, face: FaceInput, enrolled: tuple[float, ...] | None, done: FacesDone) -> None:
        """Compare the live face with the card photo and the enrolled photo; ``done`` gets the result."""
        card_future = self._cards.get(card.event_id) or self._pool.submit(analyze_card, card.photo, self.faces)

        def failed(exc: BaseException) -> None:
            logger.error("face work failed: %r", exc)
            if isinstance(exc, BrokenProcessPool):
                self._broken = True
            done(self.problem("face analysis failed; look at the camera again"), {})

        def compared(job: Future[tuple[FaceEvidence, dict[str, float]]]) -> None:
            if job.cancelled():
                return  # shutting down
            exc = job.exception()
            if exc is not None:
                failed(exc)
            else:
                done(*job.result())

        def card_analysed(card_done: Future[CardResult]) -> None:
            # Runs when the card photo is analysed; the comparison then goes to the pool.
            if card_done.cancelled():
                return  # shutting down
            card_error = card_done.exception()
            if card_error is not None:
                failed(card_error)
                return
            try:
                job = self._pool.submit(face_evidence, card_done.result(), face, enrolled, self.faces)
            except RuntimeError as exc:  # the pool is shutting down or broken
                failed(exc)
                return
            job.add_done_callback(compared)

        card_future.add_done_callback(card_analysed)
