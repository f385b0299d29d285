"""``hazgate faces verify``: the face engine from the command line.

    hazgate faces verify A.jpg B.jpg [--json]
    hazgate faces verify --pairs PAIRS.csv [--json]

stdout carries the contract's JSON, one object per line, whatever the flags: a pair gives
``{"match", "distance", "threshold"}`` (or ``{"error", "message"}`` and a non-zero exit), a
pairs file gives one such line per row and a summary object last. Progress and, without
``--json``, a readable verdict go to stderr, so a script can always parse stdout.

Exit codes: 0 the answer was given (match or not; for --pairs: no errors and, where the CSV
says ``same``, no wrong verdict); 1 an image or face could not be used, or a verdict was
wrong; 2 the command line or the pairs file is wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.faces.config import FaceSettings
from gateway.faces.errors import FaceError
from gateway.faces.models import FaceAnalysis, VerifyResult

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
# A progress line on stderr at most this often during a --pairs run.
PROGRESS_INTERVAL_S = 2.0
_TRUE = frozenset({"1", "true", "yes", "y", "same"})
_FALSE = frozenset({"0", "false", "no", "n", "different"})

Json = dict[str, Any]


# -- parser ---------------------------------------------------------------------------------
def add_faces_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``faces`` (and its ``verify``) on the main CLI; handlers get ``func``."""
    faces = subparsers.add_parser("faces", help="ID photo vs live face matching", description=__doc__)
    _add_subcommands(faces)
    return faces


def _add_subcommands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="faces_command", required=True)
    verify = sub.add_parser(
        "verify",
        help="are two photos the same person? (or every row of a pairs CSV)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__,
    )
    verify.add_argument("images", nargs="*", metavar="IMAGE", help="two JPEG/PNG files")
    verify.add_argument(
        "--pairs",
        type=Path,
        metavar="PAIRS.csv",
        help="CSV with columns file1,file2 (relative to the CSV), optional same",
    )
    verify.add_argument("--threshold", type=float, help="match when distance <= this (default: faces.match_threshold)")
    verify.add_argument("--json", action="store_true", help="JSON only (stdout is JSON either way)")
    verify.add_argument("--quiet", action="store_true", help="no progress on stderr")
    verify.set_defaults(func=run_faces_cli)


# -- output ---------------------------------------------------------------------------------
def _out(obj: Json) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _say(args: argparse.Namespace, text: str) -> None:
    """A human line on stderr, unless --json or --quiet asked for silence."""
    if not (args.json or args.quiet):
        sys.stderr.write(text + "\n")


def _verdict_json(result: VerifyResult) -> Json:
    return {"match": result.match, "distance": round(result.distance, 4), "threshold": result.threshold}


def _error_json(code: str, message: str, **extra: Any) -> Json:
    return {"error": code, "message": message, **extra}


# -- entry points ---------------------------------------------------------------------------
def run_faces_cli(args: argparse.Namespace, face_settings: FaceSettings) -> int:
    """Run the parsed ``faces`` command; prints its JSON and returns the exit code."""
    cfg = face_settings
    if args.threshold is not None:
        cfg = FaceSettings.model_validate({**face_settings.model_dump(), "match_threshold": args.threshold})
    if args.pairs is not None:
        if args.images:
            _out(_error_json("usage", "give either two images or --pairs, not both"))
            return EXIT_USAGE
        return _run_pairs(args, args.pairs, cfg)
    if len(args.images) != 2:
        _out(_error_json("usage", f"two images are needed, {len(args.images)} given (or use --pairs PAIRS.csv)"))
        return EXIT_USAGE
    return _run_single(args, Path(args.images[0]), Path(args.images[1]), cfg)


def main(argv: Sequence[str] | None = None, face_settings: FaceSettings | None = None) -> int:
    """``python -m gateway.faces.cli verify ...`` (the ``hazgate faces`` part of the command)."""
    parser = argparse.ArgumentParser(prog="hazgate faces", description=__doc__)
    _add_subcommands(parser)
    args = parser.parse_args(argv)
    code: int = args.func(args, face_settings or FaceSettings())
    return code


# -- single pair ----------------------------------------------------------------------------
def _run_single(args: argparse.Namespace, path_a: Path, path_b: Path, cfg: FaceSettings) -> int:
    analyses = _Analyses(cfg)
    for path in (path_a, path_b):
        outcome = analyses.get(path)
        if isinstance(outcome, dict):
            _say(args, f"{path}: {outcome['message']}")
            _out({**outcome, "file": str(path)})
            return EXIT_REFUSED
    result = _compare(analyses, path_a, path_b, cfg)
    _say(
        args, f"{'MATCH' if result.match else 'NO MATCH'}: distance {result.distance:.4f}, threshold {result.threshold}"
    )
    _out(_verdict_json(result))
    return EXIT_OK


def _compare(analyses: _Analyses, path_a: Path, path_b: Path, cfg: FaceSettings) -> VerifyResult:
    from gateway.faces.vision import compare

    a, b = analyses.get(path_a), analyses.get(path_b)
    assert isinstance(a, FaceAnalysis) and isinstance(b, FaceAnalysis)
    return compare(a, b, cfg)


@dataclass
class _Analyses:
    """Each file read and encoded once, however many pairs it appears in."""

    cfg: FaceSettings
    done: dict[Path, FaceAnalysis | Json] = field(default_factory=dict)

    def get(self, path: Path) -> FaceAnalysis | Json:
        key = path.resolve()
        if key not in self.done:
            self.done[key] = self._analyze(path)
        return self.done[key]

    def _analyze(self, path: Path) -> FaceAnalysis | Json:
        from gateway.faces.vision import analyze

        try:
            data = path.read_bytes()
        except OSError as exc:
            return _error_json("unreadable_file", f"cannot read {path}: {exc.strerror or exc}")
        try:
            return analyze(data, self.cfg)
        except FaceError as exc:
            return exc.to_dict()


# -- pairs file -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pair:
    file1: Path
    file2: Path
    label1: str
    label2: str
    same: bool | None


class PairsFileError(Exception):
    """The pairs CSV cannot be read or lacks its columns."""


def _parse_same(raw: str | None) -> bool | None:
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def read_pairs(csv_path: Path) -> list[_Pair]:
    """Rows of a pairs CSV; file paths are relative to the CSV's directory."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PairsFileError(f"cannot read {csv_path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    columns = set(reader.fieldnames or [])
    if not {"file1", "file2"} <= columns:
        raise PairsFileError(f"{csv_path} needs columns file1,file2 (found: {', '.join(sorted(columns)) or 'none'})")
    base = csv_path.parent
    pairs = []
    for row in reader:
        file1, file2 = (row.get("file1") or "").strip(), (row.get("file2") or "").strip()
        if not file1 or not file2:
            continue
        same = _parse_same(row.get("same")) if "same" in columns else None
        pairs.append(_Pair(base / file1, base / file2, file1, file2, same))
    return pairs


def _pair_line(pair: _Pair, analyses: _Analyses, cfg: FaceSettings) -> tuple[Json, VerifyResult | None]:
    line: Json = {"file1": pair.label1, "file2": pair.label2}
    if pair.same is not None:
        line["same"] = pair.same
    for path, label in ((pair.file1, pair.label1), (pair.file2, pair.label2)):
        outcome = analyses.get(path)
        if isinstance(outcome, dict):
            return {**line, **outcome, "file": label}, None
    result = _compare(analyses, pair.file1, pair.file2, cfg)
    line.update(_verdict_json(result))
    if pair.same is not None:
        line["correct"] = result.match == pair.same
    return line, result


def _range(values: list[float]) -> Json | None:
    if not values:
        return None
    return {
        "count": len(values),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "mean": round(sum(values) / len(values), 4),
    }


@dataclass
class _Tally:
    pairs: int = 0
    errors: int = 0
    matches: int = 0
    correct: int = 0
    false_accepts: int = 0
    false_rejects: int = 0
    genuine: list[float] = field(default_factory=list)
    impostor: list[float] = field(default_factory=list)
    unlabelled: list[float] = field(default_factory=list)

    def add(self, pair: _Pair, result: VerifyResult | None) -> None:
        self.pairs += 1
        if result is None:
            self.errors += 1
            return
        self.matches += result.match
        {True: self.genuine, False: self.impostor, None: self.unlabelled}[pair.same].append(result.distance)
        if pair.same is None:
            return
        self.correct += result.match == pair.same
        self.false_accepts += result.match and not pair.same
        self.false_rejects += pair.same and not result.match

    @property
    def incorrect(self) -> int:
        return self.false_accepts + self.false_rejects

    def summary(self, cfg: FaceSettings, images: int, seconds: float) -> Json:
        labelled = len(self.genuine) + len(self.impostor)
        out: Json = {
            "pairs": self.pairs,
            "compared": self.pairs - self.errors,
            "errors": self.errors,
            "matches": self.matches,
            "non_matches": self.pairs - self.errors - self.matches,
            "threshold": cfg.match_threshold,
            "images": images,
            "seconds": round(seconds, 2),
        }
        if labelled:
            out.update(
                labelled=labelled,
                correct=self.correct,
                incorrect=self.incorrect,
                false_accepts=self.false_accepts,
                false_rejects=self.false_rejects,
                accuracy=round(self.correct / labelled, 4),
                genuine_distance=_range(self.genuine),
                impostor_distance=_range(self.impostor),
            )
        if self.unlabelled:
            out["distance"] = _range(self.unlabelled)
        return out


def _progress(args: argparse.Namespace, pairs: list[_Pair]) -> Iterator[_Pair]:
    """Yield the pairs, writing a progress line to stderr every PROGRESS_INTERVAL_S."""
    started = last = time.monotonic()
    for done, pair in enumerate(pairs):
        now = time.monotonic()
        if not args.quiet and now - last >= PROGRESS_INTERVAL_S:
            sys.stderr.write(f"faces verify: {done}/{len(pairs)} pairs, {now - started:.0f} s\n")
            last = now
        yield pair


def _run_pairs(args: argparse.Namespace, csv_path: Path, cfg: FaceSettings) -> int:
    started = time.monotonic()
    try:
        pairs = read_pairs(csv_path)
    except PairsFileError as exc:
        _out(_error_json("bad_pairs_file", str(exc)))
        return EXIT_USAGE
    analyses = _Analyses(cfg)
    tally = _Tally()
    for pair in _progress(args, pairs):
        line, result = _pair_line(pair, analyses, cfg)
        tally.add(pair, result)
        _out(line)
    summary = tally.summary(cfg, len(analyses.done), time.monotonic() - started)
    _say(args, _human_summary(summary))
    _out(summary)
    return EXIT_REFUSED if tally.errors or tally.incorrect else EXIT_OK


def _human_summary(summary: Json) -> str:
    text = f"{summary['pairs']} pairs: {summary['matches']} match, {summary['non_matches']} do not"
    if summary["errors"]:
        text += f", {summary['errors']} could not be compared"
    if "labelled" in summary:
        text += f"; {summary['correct']}/{summary['labelled']} verdicts correct"
    return text + f" ({summary['seconds']} s)"


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
