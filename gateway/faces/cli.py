"""``hazgate faces verify`` and ``calibrate``: the face engine from the command line.

    hazgate faces verify A.jpg B.jpg [--json]
    hazgate faces verify --pairs PAIRS.csv [--json]
    hazgate faces calibrate [--photos DIR] [--seed N] [--scenarios S] [--ladders] [--json]

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
from typing import Any, cast

from checks.policy import DEFAULT_POLICY, FaceReferences
from gateway.faces.config import FaceSettings
from gateway.faces.errors import FaceError
from gateway.faces.models import FaceAnalysis, PhotoKind, VerifyResult

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
    verify.add_argument(
        "--kinds",
        default="reference,live",
        help="what the two pictures are: reference (ID card, enrolment: no sharpness gate) or live "
        "(default: reference,live)",
    )
    verify.set_defaults(func=run_faces_cli)
    calibrate = sub.add_parser(
        "calibrate",
        help="measure the engine on ordinary (degraded) copies of the shipped photos",
        description="Makes ID-chip, enrolment, web, kiosk and CCTV copies of every photo, measures "
        "them, replays the quality gates and compares every same-person and different-person pair. "
        "One JSON object on stdout; progress on stderr. See docs/faces.md.",
    )
    calibrate.add_argument(
        "--photos", type=Path, help="folder with one sub-folder per person (default: the shipped photos)"
    )
    calibrate.add_argument("--seed", type=int, default=1, help="seed of the degradations (default 1)")
    calibrate.add_argument(
        "--threshold", type=float, help="match when distance <= this (default: faces.match_threshold)"
    )
    calibrate.add_argument(
        "--scenarios",
        help="comma-separated: pairs (one reference vs one live picture), gate (chip and/or enrolment "
        "photo vs the live capture, faces.burst_frames frames of it), or names like id_chip~kiosk, "
        "id_chip~kiosk:5 (a 5-frame burst), id_chip+enrolment_soft~cctv:3 (default: pairs,gate)",
    )
    calibrate.add_argument(
        "--ladders", action="store_true", help="also the stress ladders (blur, second face) behind the gates' tables"
    )
    calibrate.add_argument(
        "--review-margin",
        type=float,
        help="distances this far above the threshold go to an officer (default: the checks' face_review_margin)",
    )
    calibrate.add_argument(
        "--references",
        choices=[r.value for r in FaceReferences],
        help="how two references decide: each must match, or their mean distance (default: the checks' policy)",
    )
    calibrate.add_argument(
        "--cache",
        type=Path,
        help="folder of cached measurements (default: $XDG_CACHE_HOME/hazgate/faces-calibrate)",
    )
    calibrate.add_argument("--no-cache", action="store_true", help="measure every picture again, store nothing")
    calibrate.add_argument("--json", action="store_true", help="JSON only (stdout is JSON either way)")
    calibrate.add_argument("--quiet", action="store_true", help="no progress on stderr")
    calibrate.set_defaults(func=run_calibrate_cli)


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
    if _kinds(args) is None:
        _out(_error_json("usage", f"--kinds must be two of reference,live separated by a comma, not {args.kinds!r}"))
        return EXIT_USAGE
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


def run_calibrate_cli(args: argparse.Namespace, face_settings: FaceSettings) -> int:
    """``hazgate faces calibrate``: the calibration report as one JSON object."""
    from gateway.faces.calibrate import (
        MeasurementCache,
        calibrate,
        default_cache_dir,
        parse_scenarios,
        stderr_progress,
    )
    from hazgate.data import faces_dir

    cfg = face_settings
    if args.threshold is not None:
        cfg = FaceSettings.model_validate({**face_settings.model_dump(), "match_threshold": args.threshold})
    folder = args.photos or faces_dir()
    if not folder.is_dir():
        _out(_error_json("usage", f"no such folder: {folder}"))
        return EXIT_USAGE
    try:
        scenarios = parse_scenarios(args.scenarios, cfg.burst_frames)
    except ValueError as exc:
        _out(_error_json("usage", str(exc)))
        return EXIT_USAGE
    policy = DEFAULT_POLICY
    cache = MeasurementCache(None if args.no_cache else (args.cache or default_cache_dir()))
    report = calibrate(
        folder,
        cfg,
        seed=args.seed,
        scenarios=scenarios,
        ladders=args.ladders,
        review_margin=policy.face_review_margin if args.review_margin is None else args.review_margin,
        rule=policy.face_references if args.references is None else FaceReferences(args.references),
        cache=cache,
        progress=None if args.quiet else stderr_progress,
    )
    if not (args.json or args.quiet):
        sys.stderr.write(_human_calibration(report) + "\n")
    _out(report)
    return EXIT_OK


def _human_calibration(report: Json) -> str:
    lines = [f"{report['photos']} photos of {report['people']} people, {report['seconds']} s"]
    groups = {f"{g} (all {g} scenarios)": report[g] for g in ("ordinary", "gate") if g in report}
    groups["all scenarios above"] = report["all"]
    for name, s in {**report["scenarios"], **groups}.items():
        g, i = s["genuine"]["distance"] or {}, s["impostor"]["distance"] or {}
        lines.append(
            f"  {name:44} accuracy {s['accuracy']:.4f}  false accepts {s['false_accepts']}  "
            f"false rejects {s['false_rejects']}  refusals {s['refusals']}  review {s['review']['genuine']}"
            f"+{s['review']['impostor']}  genuine max {g.get('max')}  impostor min {i.get('min')}"
        )
    return "\n".join(lines)


def _kinds(args: argparse.Namespace) -> tuple[PhotoKind, PhotoKind] | None:
    parts = tuple(part.strip() for part in str(getattr(args, "kinds", "reference,live")).split(","))
    if len(parts) != 2 or not all(part in ("reference", "live") for part in parts):
        return None
    return (cast(PhotoKind, parts[0]), cast(PhotoKind, parts[1]))


# -- single pair ----------------------------------------------------------------------------
def _run_single(args: argparse.Namespace, path_a: Path, path_b: Path, cfg: FaceSettings) -> int:
    analyses = _Analyses(cfg, _kinds(args) or ("reference", "live"))
    for position, path in enumerate((path_a, path_b)):
        outcome = analyses.get(path, position)
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

    a, b = analyses.get(path_a, 0), analyses.get(path_b, 1)
    assert isinstance(a, FaceAnalysis) and isinstance(b, FaceAnalysis)
    return compare(a, b, cfg)


@dataclass
class _Analyses:
    """Each file read and encoded once per kind, however many pairs it appears in.

    The first file of a pair is analysed as ``kinds[0]``, the second as ``kinds[1]``.
    """

    cfg: FaceSettings
    kinds: tuple[PhotoKind, PhotoKind] = ("reference", "live")
    done: dict[tuple[Path, PhotoKind], FaceAnalysis | Json] = field(default_factory=dict)

    def get(self, path: Path, position: int = 0) -> FaceAnalysis | Json:
        key = (path.resolve(), self.kinds[position])
        if key not in self.done:
            self.done[key] = self._analyze(path, key[1])
        return self.done[key]

    @property
    def images(self) -> int:
        return len({path for path, _kind in self.done})

    def _analyze(self, path: Path, kind: PhotoKind) -> FaceAnalysis | Json:
        from gateway.faces.vision import analyze

        try:
            data = path.read_bytes()
        except OSError as exc:
            return _error_json("unreadable_file", f"cannot read {path}: {exc.strerror or exc}")
        try:
            return analyze(data, self.cfg, kind)
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
    for position, (path, label) in enumerate(((pair.file1, pair.label1), (pair.file2, pair.label2))):
        outcome = analyses.get(path, position)
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
    analyses = _Analyses(cfg, _kinds(args) or ("reference", "live"))
    tally = _Tally()
    for pair in _progress(args, pairs):
        line, result = _pair_line(pair, analyses, cfg)
        tally.add(pair, result)
        _out(line)
    summary = tally.summary(cfg, analyses.images, time.monotonic() - started)
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
