"""Speaker labelling: accuracy on two-speaker sessions built from real voices, its cost, and its memory.

    python bench/bench_speakers.py [--seconds 120] [--asr] [--rss-minutes 50] [--skip-rss | --only-rss]

Readers: the four in tests/data/speakers, or any folder in the evaluation layout given as
HUSHNOTE_SPEAKERS_DIR (docs/BENCHMARKS.md's figures: the project's ten-reader ``eval/speakers`` folder).
Per pair of readers one session (tests/support/speakers.py: alternating 1-7 s turns, per-turn loudness
and EQ, 0.1-1 s pauses) from their first seven utterances; enrolment clips from the other three.

Measures
* word accuracy after the best renaming of speakers, on word-sized pieces with exact truth, and with
  ``--asr`` on Whisper tiny.en's own word timestamps (truth: the turn a word's middle falls in);
* one reader alone: how often one speaker comes back, and the two halves' centroid cosine;
* enrolment: right cluster picked, smallest margin; a third reader's voiceprint: highest score;
* two channels with bleed: word accuracy at -25 and -12 dB (channel 1 6 dB quieter);
* CPU seconds per audio second of embedding + clustering (``label_windows``; the VAD is timed apart);
* peak RSS of a fresh process running the VAD, then of one labelling, a ``--rss-minutes`` session (the
  audio held in memory as float32, as the pipeline holds a window of it).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hushnote.daemon.speakers import (  # noqa: E402
    Diarizer,
    label_words_by_channel,
    match_enrolled,
    speech_regions,
    voiceprint,
    words_from_windows,
)
from hushnote.daemon.speakers.labels import Word  # noqa: E402

from tests.support.speakers import (  # noqa: E402
    READERS,
    Session,
    best_mapping_accuracy,
    build_session,
    pseudo_words,
    stereo,
)

Readers = dict[str, tuple[list[np.ndarray], list[np.ndarray], str]]  # id -> (session clips, enrol clips, sex)


def speakers_dir() -> Path:
    env = os.environ.get("HUSHNOTE_SPEAKERS_DIR")
    return Path(env) if env else READERS


def load_readers(folder: Path) -> Readers:
    """Readers from the eval layout (one folder of clips per reader, SPEAKERS.TXT) or tests/data/speakers."""
    from hushnote.daemon.speech.audio import decode_all

    out: Readers = {}
    if (folder / "SPEAKERS.TXT").exists():
        sex = {
            line.split("|")[0].strip(): line.split("|")[1].strip()
            for line in (folder / "SPEAKERS.TXT").read_text().splitlines()
            if line[:1].isdigit()
        }
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            clips = [np.asarray(decode_all(f), dtype=np.float32) for f in sorted(sub.glob("*.flac"))]
            out[sub.name] = (clips[:7], clips[7:], sex.get(sub.name, "?"))
        return out
    from tests.support.speakers import FEMALE

    for f in sorted(folder.glob("*-session.flac")):
        rid = f.name.split("-")[0]
        enrol = folder / f"{rid}-enrol.flac"
        out[rid] = ([decode_all(f)], [decode_all(enrol)], "F" if rid in FEMALE else "M")
    return out


def asr_words(audio: np.ndarray) -> list[Word]:
    from faster_whisper import WhisperModel
    from hushnote.daemon.models.registry import tiny_en_dir

    global _WHISPER
    if _WHISPER is None:
        _WHISPER = WhisperModel(str(tiny_en_dir()), device="cpu", compute_type="int8", cpu_threads=1)
    segments, _ = _WHISPER.transcribe(audio, word_timestamps=True, vad_filter=True, beam_size=1)
    return [Word(w.start, w.end, w.word) for s in segments for w in (s.words or [])]


_WHISPER = None


def truth_of(session: Session, word: Word) -> int:
    mid = (word.start + word.end) / 2
    return min(session.turns, key=lambda t: 0.0 if t[0] <= mid < t[1] else min(abs(mid - t[0]), abs(mid - t[1])))[2]


def sessions_bench(readers: Readers, seconds: float, use_asr: bool, d: Diarizer) -> None:
    rows: dict[str, list[float]] = {"FF": [], "MM": [], "FM": []}
    asr_rows: list[float] = []
    cpu = vad_cpu = audio_s = 0.0
    margins: list[float] = []
    right = total = 0
    stranger = 0.0
    sims: list[float] = []
    prints = {}
    for rid, (_, enrol, _) in readers.items():
        clip = np.concatenate([np.concatenate([c, np.zeros(4800, dtype=np.float32)]) for c in enrol])
        prints[rid] = voiceprint(clip, speech_regions(clip), d.embedder)
    for i, (a, b) in enumerate(itertools.combinations(sorted(readers), 2)):
        s = build_session([readers[a][0], readers[b][0]], seconds, seed=i)
        t0 = time.process_time()
        regions = speech_regions(s.audio)
        t1 = time.process_time()
        found = d.label_windows(s.audio, regions)
        t2 = time.process_time()
        vad_cpu += t1 - t0
        cpu += t2 - t1
        audio_s += len(s.audio) / 16000
        sims.append(found.clustering.similarity)
        words, truth = pseudo_words(s)
        acc = best_mapping_accuracy([w.speaker for w in words_from_windows(words, found)], truth)
        rows["".join(sorted(readers[a][2] + readers[b][2]))].append(acc)
        if use_asr:
            real = asr_words(s.audio)
            labels = [w.speaker for w in words_from_windows(real, found)]
            asr_rows.append(best_mapping_accuracy(labels, [truth_of(s, w) for w in real]))
        for who, rid in enumerate((a, b)):
            mids = [(w.start + w.end) / 2 for w in found.windows]
            mine = [lab for lab, m in zip(found.clustering.labels, mids, strict=True) if s.speaker_at(m) == who]
            match = match_enrolled(found.clustering.centroids, prints[rid])
            total += 1
            right += match.speaker == int(np.bincount(mine).argmax())
            margins.append(match.margin)
        for other in readers:
            if other not in (a, b):
                stranger = max(stranger, max(match_enrolled(found.clustering.centroids, prints[other]).scores))
    every = [x for v in rows.values() for x in v]
    print(f"sessions: {len(every)} x {seconds:.0f} s; word accuracy (pieces) mean {np.mean(every):.4f} "
          f"min {np.min(every):.4f}")
    for kind, v in rows.items():
        if v:
            print(f"  {kind}: {len(v)} sessions, mean {np.mean(v):.4f}, min {np.min(v):.4f}")
    if asr_rows:
        print(f"  on tiny.en word timestamps: mean {np.mean(asr_rows):.4f}, min {np.min(asr_rows):.4f}")
    print(f"  two readers' centroid cosine: max {max(sims):.3f}")
    print(f"cost: embedding+clustering {cpu / audio_s:.4f} CPU-s per audio s; VAD {vad_cpu / audio_s:.4f}")
    print(f"enrolment: right {right} of {total}, margin min {min(margins):.3f} median {np.median(margins):.3f}; "
          f"a third reader's voiceprint scored at most {stranger:.3f}")


def one_reader_bench(readers: Readers, d: Diarizer) -> None:
    for seconds in (30.0, 120.0):
        ones = []
        sims = []
        for i, rid in enumerate(sorted(readers)):
            for seed in range(2):
                s = build_session([readers[rid][0]], seconds, seed=100 + 2 * i + seed)
                found = d.label_windows(s.audio, speech_regions(s.audio))
                ones.append(found.speakers == 1)
                sims.append(found.clustering.similarity)
        print(f"one reader, {seconds:.0f} s: one speaker in {sum(ones)} of {len(ones)}; "
              f"halves' cosine min {min(sims):.3f} median {np.median(sims):.3f}")


def channel_bench(readers: Readers, seconds: float) -> None:
    pairs = list(itertools.combinations(sorted(readers), 2))[::3]
    for bleed in (-25.0, -12.0):
        accs = []
        for i, (a, b) in enumerate(pairs):
            s = build_session([readers[a][0], readers[b][0]], seconds, seed=i)
            words, truth = pseudo_words(s)
            got = label_words_by_channel(stereo(s, bleed_db=bleed, gain1_db=-6.0), words)
            accs.append(float(np.mean([w.speaker == t for w, t in zip(got, truth, strict=True)])))
        print(f"two channels, bleed {bleed:.0f} dB: {len(accs)} sessions, word accuracy mean {np.mean(accs):.4f} "
              f"min {np.min(accs):.4f}")


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process in MB; unlike ru_maxrss, VmHWM starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_child(audio_path: Path, stage: str) -> None:
    """In a fresh process: load the session audio, run one stage (vad or labels), print RSS figures."""
    import json

    audio = np.load(audio_path)
    loaded = _status_mb("VmRSS")
    t0 = time.process_time()
    if stage == "vad":
        regions = speech_regions(audio)
        audio_path.with_suffix(".json").write_text(json.dumps(regions))
        what = f"{len(regions)} regions"
    else:
        regions = [tuple(r) for r in json.loads(audio_path.with_suffix(".json").read_text())]
        found = Diarizer().label_windows(audio, regions)
        what = f"{len(found.windows)} windows, {found.speakers} speakers"
    cpu = time.process_time() - t0
    peak = _status_mb("VmHWM")
    print(f"  {stage}: {what}; RSS with the audio loaded {loaded:.0f} MB, peak {peak:.0f} MB "
          f"(+{peak - loaded:.0f} MB); {cpu:.0f} CPU-s = {cpu / (len(audio) / 16000):.4f} per audio s")


def rss_bench(readers: Readers, minutes: float) -> None:
    """A ``minutes`` session built in this process, then VAD and labelling each in a fresh process."""
    import tempfile

    ids = sorted(readers)[:2]
    s = build_session([readers[ids[0]][0], readers[ids[1]][0]], minutes * 60, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "session.npy"
        np.save(path, s.audio)
        print(f"{minutes:.0f}-minute session ({s.audio.nbytes / 1e6:.0f} MB of float32 audio):")
        for stage in ("vad", "labels"):
            out = subprocess.run(
                [sys.executable, __file__, "--rss-child", str(path), "--stage", stage],
                capture_output=True, text=True, check=True,
            )
            print(out.stdout.rstrip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--asr", action="store_true", help="also score on Whisper tiny.en word timestamps")
    ap.add_argument("--rss-minutes", type=float, default=50.0)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--stage", default="labels", help=argparse.SUPPRESS)
    ap.add_argument("--only-rss", action="store_true", help="only the memory measurement")
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.stage)
        return 0
    folder = speakers_dir()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
          f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.2f}; readers from {folder}")
    readers = load_readers(folder)
    if not args.only_rss:
        d = Diarizer()
        sessions_bench(readers, args.seconds, args.asr, d)
        one_reader_bench(readers, d)
        channel_bench(readers, args.seconds)
    if not args.skip_rss:
        rss_bench(readers, args.rss_minutes)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
