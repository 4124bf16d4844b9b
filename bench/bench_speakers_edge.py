"""Speaker labelling on bad input: three people when two are expected, music, and enrolment clips of two voices.

    python bench/bench_speakers_edge.py [--seconds 120] [--seeds 5]

Readers as in bench_speakers.py (tests/data/speakers, or HUSHNOTE_SPEAKERS_DIR in the evaluation layout).
Music is made here (tests/support/music.py: chords, a melody, a hi-hat; no recording).

Measures
* three voices, ``speakers.count = 2``: for every pair of readers, the centroid cosine of the closest two
  groups when clustered into three (one reader's halves), and how often ``WindowLabels.more`` fires (a
  false alarm); for every triple, with the third reader in 1/3, 1/5 and 1/9 of the turns, the same cosine,
  how often ``more`` fires, and the word accuracy of its Speaker 1/2/3 labels (word-sized pieces);
* music: seconds the speech detector takes for speech in music alone; one reader after 20 s of music
  (speakers found); a two-reader session over a music bed at -24 dB (speakers found, ``more``);
* enrolment: one reader's 25 s clip, and clips where a second reader has 1/2, 1/4 or 1/6 of the turns:
  the cosine of the clip's two halves (Ward), each window's cosine to the rest of the clip (own voice,
  other voice), and whether ``voiceprint`` refuses it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hushnote.daemon.core.errors import InputError  # noqa: E402
from hushnote.daemon.speakers import Diarizer, cluster, speech_regions, voiceprint, words_from_windows  # noqa: E402
from hushnote.daemon.speakers.diarize import MIN_CLUSTER_S  # noqa: E402
from hushnote.daemon.speakers.enrol import TWO_VOICES, rest_similarity  # noqa: E402

from bench.bench_speakers import Readers, load_readers, speakers_dir  # noqa: E402
from tests.support.music import tonal_music  # noqa: E402
from tests.support.speakers import Session, best_mapping_accuracy, build_session, pseudo_words  # noqa: E402

SHARES = {"1/3": (0, 1, 2), "1/5": (0, 1, 0, 1, 2), "1/9": (0, 1, 0, 1, 0, 1, 0, 1, 2)}


def full_embeddings(d: Diarizer, audio: np.ndarray) -> tuple[list, np.ndarray]:  # type: ignore[type-arg]
    windows, emb = d.embed(audio, speech_regions(audio))
    return windows, emb


def k3_similarity(windows: list, emb: np.ndarray) -> float:  # type: ignore[type-arg]
    full = np.array([w.duration >= MIN_CLUSTER_S for w in windows], dtype=bool)
    return cluster(emb[full], 3).similarity


def counted(xs: list[int]) -> str:
    return ", ".join(f"{k}: {xs.count(k)}" for k in sorted(set(xs)))


def summary(xs: list[float]) -> str:
    if not xs:
        return "-"
    a = np.asarray(xs)
    return f"min {a.min():.3f} median {np.median(a):.3f} max {a.max():.3f} (n={len(a)})"


def three_voices(readers: Readers, seconds: float, seeds: int, d: Diarizer, max_triples: int) -> None:
    ids = sorted(readers)
    sims, alarms, n = [], 0, 0
    for i, (a, b) in enumerate(itertools.combinations(ids, 2)):
        for seed in range(seeds):
            s = build_session([readers[a][0], readers[b][0]], seconds, seed=1000 * seed + i)
            windows, emb = full_embeddings(d, s.audio)
            sims.append(k3_similarity(windows, emb))
            alarms += d.cluster_windows(windows, emb).more is not None
            n += 1
    print(f"two readers, clustered into 3: closest groups' cosine {summary(sims)}; 'more voices' fired {alarms} of {n}")
    for share, order in SHARES.items():
        sims, fired, accs, n = [], 0, [], 0
        trios = list(itertools.combinations(ids, 3))
        for i, trio in enumerate(trios[:: max(1, len(trios) // max_triples)]):
            for seed in range(max(1, seeds // 2)):
                s = build_session([readers[trio[k]][0] for k in order], seconds * len(order) / 3,
                                  seed=2000 * seed + i)
                windows, emb = full_embeddings(d, s.audio)
                sims.append(k3_similarity(windows, emb))
                found = d.cluster_windows(windows, emb)
                n += 1
                if found.more is not None:
                    fired += 1
                    accs.append(accuracy(s, order, found.more))
        print(f"three readers, the third in {share} of the turns: closest of 3 groups {summary(sims)}; 'more "
              f"voices' fired {fired} of {n}; Speaker 1/2/3 word accuracy {summary(accs)}")


def accuracy(s: Session, order: tuple[int, ...], found: object) -> float:
    words, truth = pseudo_words(s)
    labels = [w.speaker for w in words_from_windows(words, found)]  # type: ignore[arg-type]
    return best_mapping_accuracy(labels, [order[t] for t in truth])


def music(readers: Readers, seeds: int, d: Diarizer) -> None:
    found_s = []
    for seed in range(seeds):
        for level, bpm in ((-12.0, 96.0), (0.0, 140.0), (-6.0, 60.0)):
            m = tonal_music(30.0, seed=seed, bpm=bpm, level_db=level)
            found_s.append(sum(b - a for a, b in speech_regions(m)))
    print(f"music alone (30 s clips): seconds taken for speech {summary(found_s)}")
    ones = [np.concatenate([tonal_music(20.0, seed=i), build_session([readers[rid][0]], 60.0, seed=i).audio])
            for i, rid in enumerate(sorted(readers))]
    print(f"20 s of music then one reader (60 s): {speakers_found(d, ones)}")
    beds = []
    for i, (a, b) in enumerate(itertools.combinations(sorted(readers), 2)):
        s = build_session([readers[a][0], readers[b][0]], 90.0, seed=i)
        beds.append(s.audio + tonal_music(len(s.audio) / 16000 + 1, seed=i, level_db=-24.0)[: len(s.audio)])
    print(f"two readers over a music bed at -24 dB (90 s): {speakers_found(d, beds)}")


def speakers_found(d: Diarizer, clips: list[np.ndarray]) -> str:  # type: ignore[type-arg]
    """How many speakers were found in each clip, and how often 'more voices' fired."""
    found = [d.label_windows(a, speech_regions(a)) for a in clips]
    more = sum(f.more is not None for f in found)
    return f"speakers found {counted([int(f.speakers) for f in found])}; 'more voices' {more} of {len(found)}"


def enrolment(readers: Readers, d: Diarizer) -> None:
    ids = sorted(readers)
    rows: dict[str, dict[str, list[float]]] = {}

    def one(name: str, s: Session, order: tuple[int, ...]) -> None:
        row = rows.setdefault(name, {"halves": [], "own": [], "other": [], "refused": []})
        regions = speech_regions(s.audio)
        windows, emb = d.embed(s.audio, regions)
        full = np.array([w.duration >= MIN_CLUSTER_S for w in windows], dtype=bool)
        row["halves"].append(cluster(emb[full], 2, same_voice=TWO_VOICES).similarity)
        rest = rest_similarity(emb[full])
        who = [s.speaker_at((w.start + w.end) / 2) for w, f in zip(windows, full, strict=True) if f]
        row["own"] += [float(r) for r, w in zip(rest, who, strict=True) if w is not None and order[w] == 0]
        row["other"] += [float(r) for r, w in zip(rest, who, strict=True) if w is not None and order[w] == 1]
        try:
            voiceprint(s.audio, regions, d.embedder)
            row["refused"].append(0.0)
        except InputError:
            row["refused"].append(1.0)

    for i, rid in enumerate(ids):
        for seed in range(3):
            one("one reader", build_session([readers[rid][1]], 25.0, seed=100 * seed + i, turn_s=(2.0, 6.0)), (0,))
    for i, (a, b) in enumerate(itertools.permutations(ids, 2)):
        for share, order in (("1/2", (0, 1)), ("1/4", (0, 0, 0, 1)), ("1/6", (0, 0, 0, 0, 0, 1))):
            clips = [readers[a][1], readers[b][1]]
            s = build_session([clips[k] for k in order], 25.0, seed=i, turn_s=(2.0, 6.0))
            if any(order[w] == 1 for _, _, w in s.turns):
                one(f"a second reader in {share} of the turns", s, order)
    for name, row in rows.items():
        print(f"enrolment, {name}: halves' cosine {summary(row['halves'])}; window vs the rest of the clip: own "
              f"voice {summary(row['own'])}, other voice {summary(row['other'])}; refused "
              f"{int(sum(row['refused']))} of {len(row['refused'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--max-triples", type=int, default=40, help="an even spread of at most this many triples")
    ap.add_argument("--only", choices=["three", "music", "enrol"])
    args = ap.parse_args()
    folder = speakers_dir()
    readers = load_readers(folder)
    print(f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; readers from {folder} "
          f"({len(readers)})")
    d = Diarizer(k=2)
    if args.only in (None, "three"):
        three_voices(readers, args.seconds, args.seeds, d, args.max_triples)
    if args.only in (None, "music"):
        music(readers, args.seeds, d)
    if args.only in (None, "enrol"):
        enrolment(readers, d)
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
