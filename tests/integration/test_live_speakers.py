"""Speaker labels for a recording transcribed while it is made: a session built from two real readers
(tests/data/speakers) fed window by window through ``LiveTranscriber`` as the recorder does, with the real
tiny.en model and the real CAM++ model, then labelled once (``pipeline.label_recorded``, what the worker
runs after Stop). The labels are right, the same as for the saved file given to the pipeline, and with
the therapist's enrolled voice they are the roles."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import ENROLLED, UNKNOWN_ROLES, Transcript
from hushnote.daemon.jobs.store import Job
from hushnote.daemon.notes import notefile, pipeline
from hushnote.daemon.recording.live import LiveTranscriber
from hushnote.daemon.speakers import Embedder, speech_regions, voiceprint

from tests.support.config import TINY, make_cfg
from tests.support.jobs import Rig
from tests.support.speakers import (
    FEMALE,
    MALE,
    Session,
    build_session,
    feed_live,
    labelled_accuracy,
    reader_audio,
    word_labels,
)
from tests.support.speech import write_wav
from tests.support.waiting import wait_for

PAIR = (FEMALE[1], MALE[0])
SECONDS = 90.0


@dataclasses.dataclass(frozen=True)
class Recorded:
    session: Session
    path: Path
    live: pipeline.LiveTranscript
    cfg: Config


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("live")
    session = build_session([[reader_audio(PAIR[0])], [reader_audio(PAIR[1])]], SECONDS, seed=3)
    path = write_wav(root / "session.wav", session.audio)
    cfg = make_cfg(root, **TINY, transcription__language="en")
    live = LiveTranscriber(cfg, source="session.wav")
    feed_live(live, session.audio, window_s=float(cfg["recording.live_window_s"]))
    assert len(live.windows) >= 3  # really fed in pieces
    return Recorded(session, path, live.finish_live(0), cfg)


def label_at(t: Transcript, at: float) -> str | None:
    """The speaker of the line nearest ``at`` seconds (within 1 s)."""
    seg = min(t.segments, key=lambda s: max(s.start - at, at - s.end, 0.0))
    return seg.speaker if max(seg.start - at, at - seg.end, 0.0) <= 1.0 else None


def as_ints(labels: Sequence[str | None], names: Sequence[str]) -> list[int | None]:
    return [names.index(x) if x in names else None for x in labels]


def test_the_live_transcript_has_word_times_and_voice_windows(recorded: Recorded) -> None:
    t, voices = recorded.live.transcript, recorded.live.voices
    assert len(t.words) >= 150 and voices is not None and len(voices) >= 60
    assert all(t.segments[w.segment].start - 0.05 <= w.start <= t.segments[w.segment].end + 0.05 for w in t.words)
    assert voices.windows[-1].end <= SECONDS + 8 and voices.embeddings.shape == (len(voices), 192)
    in_speech = [recorded.session.reader_near((w.start + w.end) / 2) for w in voices.windows]
    assert len(set(in_speech)) == 2


def test_live_labels_are_right_and_match_the_file(recorded: Recorded) -> None:
    live = pipeline.label_recorded(recorded.path, recorded.live.transcript, recorded.cfg, recorded.live.voices)
    assert live.speaker_basis == UNKNOWN_ROLES and live.speakers == ("Speaker 1", "Speaker 2") and live.words == ()
    assert live.text == recorded.live.transcript.text  # split into lines by speaker, no word lost
    assert labelled_accuracy(recorded.session, recorded.live.transcript.words, live) >= 0.95

    from_file = pipeline.transcribe_file(recorded.path, recorded.cfg)  # what a dropped file gets
    assert (from_file.speaker_basis, from_file.speakers) == (live.speaker_basis, live.speakers)
    mids = [(a + b) / 2 for a, b, _ in recorded.session.turns]
    a = as_ints([label_at(live, m) for m in mids], live.speakers)
    b = as_ints([label_at(from_file, m) for m in mids], from_file.speakers)
    same = sum(x == y for x, y in zip(a, b, strict=True)) / len(mids)
    assert same >= 0.9, same  # speakers are numbered by first appearance in both: no renaming needed


def test_with_the_enrolled_voice_the_roles_are_given(recorded: Recorded) -> None:
    clip = reader_audio(PAIR[1], "enrol")  # the second reader is the therapist
    vp = voiceprint(clip, speech_regions(clip), Embedder())
    t = pipeline.label_recorded(recorded.path, recorded.live.transcript, recorded.cfg, recorded.live.voices,
                                voiceprint=vp)
    assert t.speaker_basis == ENROLLED and t.speakers == ("Therapist", "Client") and t.roles_known
    words = recorded.live.transcript.words
    truth = [recorded.session.reader_near((w.start + w.end) / 2) for w in words]
    labels = as_ints(word_labels(words, t), ["Client", "Therapist"])  # reader 0 is the client
    right = sum(x == y for x, y in zip(labels, truth, strict=True)) / len(truth)
    assert right >= 0.95, right


def test_without_voice_windows_the_saved_file_is_embedded_instead(recorded: Recorded) -> None:
    with_voices = pipeline.label_recorded(recorded.path, recorded.live.transcript, recorded.cfg,
                                          recorded.live.voices)
    from_file = pipeline.label_recorded(recorded.path, recorded.live.transcript, recorded.cfg, None)
    assert from_file.speakers == with_voices.speakers and from_file.text == with_voices.text
    words = recorded.live.transcript.words
    a, b = word_labels(words, with_voices), word_labels(words, from_file)
    assert np.mean([x == y for x, y in zip(a, b, strict=True)]) >= 0.95


def test_a_worker_labels_the_live_transcript_it_is_given(recorded: Recorded, tmp_path: Path) -> None:
    """The service's worker (here in-process) drafts a recording job from its live transcript, labelled."""
    rig = Rig(tmp_path, transcription__language="en")
    jid = rig.queued_job(recorded.path, "Session 2026-11-30 14-00.wav", kind="recording")
    asked: list[str] = []

    def transcript_for(job: Job, progress: object) -> pipeline.LiveTranscript:
        asked.append(job.id)
        return recorded.live

    with rig.workers() as w:
        w.transcript_for = transcript_for
        w.notify()
        assert wait_for(lambda: rig.state(jid) == "done", 120), rig.events
    assert asked == [jid]
    t = notefile.read_transcript(rig.notes / "Session 2026-11-30 14-00.transcript.md")
    assert (t.speakers, t.speaker_basis) == (("Speaker 1", "Speaker 2"), UNKNOWN_ROLES)
    assert t.text == recorded.live.transcript.text  # the live words, not a new transcription
    assert labelled_accuracy(recorded.session, recorded.live.transcript.words, t) >= 0.95
