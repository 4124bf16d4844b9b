"""Who said it: speaker labels on a freshly recognised transcript, from the speakers room.

Runs where the models run (the model process of the service, or the ``hushnote process`` command), right
after transcription, on the transcript's word times (``Transcript.words``). The roles are never guessed:

1. a two-channel file whose channels carry different voices: by channel, left = ``speakers.labels[0]``
   (the therapist's microphone), right = ``speakers.labels[1]`` (the call's audio: the client);
2. otherwise the voices are clustered; with the therapist's enrolled voiceprint, the cluster that clearly
   is that voice is the therapist and the others are clients;
3. otherwise ``Speaker 1``, ``Speaker 2``... (roles unknown).

More voices than ``speakers.count`` (a third person heard when two were expected): ``Speaker 1/2/3`` with
no roles, and the transcript says so (``MORE_VOICES``), whether or not a voice is enrolled: two roles
would give the extra person's words, with confidence, to the client or the therapist.

One voice, voices too alike to be sure, or too little speech: no labels at all, and the transcript says
why (``Transcript.speaker_basis``). Whisper segments are split where the speaker changes (a word is
labelled, not a segment). The audio is read again for this, in pieces (see ``label_file``), unless its
voices were embedded while it was recorded; nothing here is logged but counts.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import (
    CHANNEL,
    ENROLLED,
    MORE_VOICES,
    ONE_VOICE,
    TOO_ALIKE,
    TOO_LITTLE,
    UNKNOWN_ROLES,
    Progress,
    Segment,
    Transcript,
    no_progress,
)
from hushnote.daemon.speakers import (
    Diarizer,
    FramePowers,
    Gathered,
    WindowLabels,
    Word,
    label_words_by_power,
    match_enrolled,
    powers_differ,
    speech_regions,
    words_from_windows,
)
from hushnote.daemon.speech import audio

log = logging.getLogger(__name__)

PIECE_S = 120.0  # one-microphone audio is embedded piece by piece (bounded memory), then clustered once
MIN_WORD_S = 0.2  # Whisper often times a turn's first word as 0 s long: it is measured over this much audio

Voiceprint = npt.NDArray[np.float32]

_lock = threading.Lock()
_diarizers: dict[int, Diarizer] = {}


def wanted(cfg: Config) -> bool:
    """Label speakers? (``speakers.enabled`` and more than one person to tell apart.)"""
    return bool(cfg["speakers.enabled"]) and int(cfg["speakers.count"]) >= 2


def diarizer_for(count: int) -> Diarizer:
    """One diarizer per speaker count for the life of the process (its model loads on first use)."""
    with _lock:
        d = _diarizers.get(count)
        if d is None:
            shared = next(iter(_diarizers.values()), None)
            d = _diarizers[count] = Diarizer(shared.embedder if shared else None, k=count)
        return d


# ----------------------------------------------------------------------------- names and segments

def role_names(labels: Sequence[str], count: int, therapist: int) -> dict[int, str]:
    """Cluster -> name when cluster ``therapist`` is the therapist: ``labels[0]`` for it, ``labels[1]`` for
    the other one (``labels[1] 1``, ``labels[1] 2``... when there are several others)."""
    others = [k for k in range(count) if k != therapist]
    names = {therapist: labels[0]}
    for n, k in enumerate(others, start=1):
        names[k] = labels[1] if len(others) == 1 else f"{labels[1]} {n}"
    return names


def anonymous_names(count: int) -> dict[int, str]:
    """Cluster -> ``Speaker 1``, ``Speaker 2``... (clusters are numbered by first appearance)."""
    return {k: f"Speaker {k + 1}" for k in range(count)}


def apply_labels(t: Transcript, speakers: Sequence[int | None], names: dict[int, str], basis: str) -> Transcript:
    """``t`` with each segment split where its words' speaker changes, each part named by ``names``.
    ``speakers[i]`` is who said ``t.words[i]`` (None: unknown, the part has no name). Segments without
    words are kept as they are. ``speakers`` on the transcript: the names in ``names``' order (with roles,
    the therapist's first: ``role_names`` puts it there, whichever cluster it is)."""
    by_segment: dict[int, list[int]] = {}
    for i, w in enumerate(t.words):
        by_segment.setdefault(w.segment, []).append(i)
    out: list[Segment] = []
    for si, seg in enumerate(t.segments):
        idx = by_segment.get(si)
        if not idx:
            out.append(seg)
            continue
        run: list[int] = []
        for i in idx:
            if run and speakers[i] != speakers[run[0]]:
                out.extend(_part(t, run, speakers, names))
                run = []
            run.append(i)
        out.extend(_part(t, run, speakers, names))
    ordered = tuple(names.values())  # as given: with roles, the therapist first (``Transcript.role_of``)
    return dataclasses.replace(t, segments=tuple(out), speakers=ordered, speaker_basis=basis, words=())


def _part(t: Transcript, run: list[int], speakers: Sequence[int | None], names: dict[int, str]) -> list[Segment]:
    text = "".join(t.words[i].text for i in run).strip()
    if not text:
        return []
    who = speakers[run[0]]
    return [Segment(round(t.words[run[0]].start, 2), round(t.words[run[-1]].end, 2), text,
                    names.get(who) if who is not None else None)]


def unlabelled(t: Transcript, basis: str) -> Transcript:
    """No labels (one voice, voices too alike, too little speech), and why."""
    return dataclasses.replace(t, speakers=(), speaker_basis=basis, words=())


# ----------------------------------------------------------------------------- decisions

def _measured(t: Transcript) -> list[Word]:
    """The transcript's words as the speakers room takes them, each at least MIN_WORD_S long."""
    return [Word(w.start, max(w.end, w.start + MIN_WORD_S), w.text) for w in t.words]


def by_voice(t: Transcript, found: WindowLabels | None, labels: Sequence[str],
             voiceprint: Voiceprint | None) -> Transcript:
    """Labels from clustered voices: roles only from a clear enrolment match, else Speaker 1/2."""
    if found is None or found.speakers == 0:
        return unlabelled(t, TOO_LITTLE)
    if found.more is not None:
        log.info("speakers: %d voices, more than expected; roles not given", found.more.speakers)
        speakers = [w.speaker for w in words_from_windows(_measured(t), found.more)]
        return apply_labels(t, speakers, anonymous_names(found.more.speakers), MORE_VOICES)
    if found.speakers == 1 or not found.clustering.sure:
        return unlabelled(t, ONE_VOICE if found.clustering.sure else TOO_ALIKE)
    speakers = [w.speaker for w in words_from_windows(_measured(t), found)]
    therapist = match_enrolled(found.clustering.centroids, voiceprint).speaker if voiceprint is not None else None
    log.info("speakers: %d voices; therapist %s", found.speakers,
             "enrolled voice matched" if therapist is not None else "not identified")
    if therapist is None:
        return apply_labels(t, speakers, anonymous_names(found.speakers), UNKNOWN_ROLES)
    return apply_labels(t, speakers, role_names(labels, found.speakers, therapist), ENROLLED)


def by_channel(t: Transcript, powers: npt.NDArray[np.float64], labels: Sequence[str]) -> Transcript:
    """Labels from a two-channel recording whose channels carry different voices (left: ``labels[0]``)."""
    speakers = [w.speaker for w in label_words_by_power(powers, _measured(t))]
    return apply_labels(t, speakers, {0: labels[0], 1: labels[1]}, CHANNEL)


# ----------------------------------------------------------------------------- audio

def embed_speech(diarizer: Diarizer, samples: npt.NDArray[np.float32], into: Gathered, offset_s: float = 0.0) -> None:
    """Embed the speech windows of 16 kHz mono ``samples`` (which start ``offset_s`` into the recording)
    into ``into``: a piece of a file, or a live recording's window as it comes."""
    windows, emb = diarizer.embed(samples, speech_regions(samples))
    into.add(windows, emb, offset_s)


def windows_by_pieces(diarizer: Diarizer, blocks: Iterable[npt.NDArray[np.float32]],
                      piece_s: float = PIECE_S) -> WindowLabels | None:
    """Embed 16 kHz mono ``blocks`` piece by piece (``piece_s`` seconds), then cluster all the windows once.
    None when there is no speech window at all."""
    gathered = Gathered()
    pending: list[npt.NDArray[np.float32]] = []
    offset = 0
    size = int(piece_s * audio.SAMPLE_RATE)
    for block in blocks:
        pending.append(block)
        if sum(p.shape[0] for p in pending) >= size:
            piece = np.concatenate(pending)
            embed_speech(diarizer, piece, gathered, offset / audio.SAMPLE_RATE)
            offset += piece.shape[0]
            pending = []
    if pending:
        embed_speech(diarizer, np.concatenate(pending), gathered, offset / audio.SAMPLE_RATE)
    return diarizer.cluster_gathered(gathered)


def label_file(path: Path, t: Transcript, cfg: Config, *, opener: audio.Opener | None = None,
               voiceprint: Voiceprint | None = None, progress: Progress = no_progress,
               embedded: Gathered | None = None) -> Transcript:
    """``t`` (recognised from ``path`` with word times) with speaker labels; see the module.

    ``embedded``: the voice windows of ``path`` (its mono mix) already embedded, e.g. while it was recorded:
    they are clustered instead of embedding the audio again. A two-channel file is read block by block: once
    for its channels' frame powers (800 bytes a second), and, when the channels carry the same voices and
    nothing was ``embedded``, once more as mono for the voices."""
    labels = [str(x).strip() for x in cfg["speakers.labels"]]
    if not t.words:
        return unlabelled(t, TOO_LITTLE)
    progress("speakers", 0.0, "")
    if audio.channel_count(path, opener) == 2:
        powers = channel_powers(path, opener)
        if powers_differ(powers):
            progress("speakers", 1.0, "")
            return by_channel(t, powers, labels)
    diarizer = diarizer_for(int(cfg["speakers.count"]))
    if embedded is not None:
        found = diarizer.cluster_gathered(embedded)
    else:
        found = windows_by_pieces(diarizer, audio.iter_pcm(path, opener=opener))
    progress("speakers", 1.0, "")
    return by_voice(t, found, labels, voiceprint)


def channel_powers(path: Path, opener: audio.Opener | None = None) -> npt.NDArray[np.float64]:
    """The 20 ms frame powers of a two-channel file's channels (``speakers.FramePowers``), read in blocks."""
    acc = FramePowers()
    for block in audio.iter_pcm(path, opener=opener, stereo=True):
        acc.add(block)
    return acc.powers
