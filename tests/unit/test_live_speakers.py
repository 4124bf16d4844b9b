"""Speaker labels for a recording transcribed while it is made, without a model: each window's segments,
words and voice windows are moved to recording time, the voice windows cross the pipe to the model process
intact, and the labels come from clustering them once (the same decisions as for a dropped file)."""

from __future__ import annotations

import numpy as np
import pytest
from hushnote.daemon.core.datatypes import ENROLLED, TOO_LITTLE, UNKNOWN_ROLES, Segment, Transcript, Word
from hushnote.daemon.notes import labelling
from hushnote.daemon.notes.pipeline import LiveTranscript
from hushnote.daemon.recording.live import LiveTranscriber
from hushnote.daemon.runner import process as runner
from hushnote.daemon.speakers import Gathered, Window
from hushnote.daemon.speakers.embedder import EMBEDDING_DIM

from tests.support.config import make_cfg

VOICE = np.eye(EMBEDDING_DIM, dtype=np.float32)[:2]  # two voices as far apart as they can be


def window_result(turns: list[tuple[float, float, int]], *, voices: bool = True) -> LiveTranscript:
    """What a window's transcription gives for ``turns`` (start, end in the window, who): a segment of two
    words per turn, and one 1.5 s voice window per turn carrying that speaker's voice."""
    segs = tuple(Segment(a, b, f"turn {i}") for i, (a, b, _) in enumerate(turns))
    words = tuple(w for i, (a, b, _) in enumerate(turns)
                  for w in (Word(a, (a + b) / 2, " turn", i), Word((a + b) / 2, b, f" {i}", i)))
    t = Transcript(segs, "en", 30.0, "tiny.en", "live", words=words)
    if not voices:
        return LiveTranscript(t, None)
    g = Gathered()
    g.add([Window(a, a + 1.5) for a, _, _ in turns], VOICE[[who for *_, who in turns]])
    return LiveTranscript(t, g)


class Windows:
    """A window transcriber that answers from a script, one result per window, in order."""

    def __init__(self, results: list[LiveTranscript]) -> None:
        self.results = list(results)

    def transcribe_window(self, samples: np.ndarray, source: str) -> LiveTranscript:
        return self.results.pop(0)


def feed(results: list[LiveTranscript], offsets: list[float]) -> LiveTranscriber:
    live = LiveTranscriber(make_cfg(), source="live", transcriber=Windows(results))
    for at in offsets:
        live.on_window(np.zeros(16000, dtype=np.float32), at)
    live.on_end(offsets[-1] + 30.0, True)
    return live


def test_windows_segments_words_and_voices_move_to_recording_time() -> None:
    live = feed([window_result([(1.0, 4.0, 0), (5.0, 9.0, 1)]), window_result([(0.5, 3.0, 0)])], [0.0, 28.25])
    got = live.finish_live(0)
    t = got.transcript
    assert [(s.start, s.end, s.text) for s in t.segments] == [(1.0, 4.0, "turn 0"), (5.0, 9.0, "turn 1"),
                                                             (28.75, 31.25, "turn 0")]
    assert [(w.start, w.end, w.segment) for w in t.words] == [
        (1.0, 2.5, 0), (2.5, 4.0, 0), (5.0, 7.0, 1), (7.0, 9.0, 1), (28.75, 30.0, 2), (30.0, 31.25, 2)]
    assert all(t.segments[w.segment].start <= w.start < t.segments[w.segment].end for w in t.words)
    assert got.voices is not None
    assert got.voices.windows == [Window(1.0, 2.5), Window(5.0, 6.5), Window(28.75, 30.25)]
    assert np.array_equal(got.voices.embeddings, VOICE[[0, 1, 0]])


def test_a_window_without_voices_means_the_recording_has_none() -> None:
    live = feed([window_result([(1.0, 4.0, 0)]), window_result([(1.0, 4.0, 1)], voices=False)], [0.0, 30.0])
    got = live.finish_live(0)
    assert got.voices is None and len(got.transcript.words) == 4  # the words are kept: labelled from the file


def test_voices_cross_the_pipe_intact() -> None:
    g = Gathered()
    emb = np.random.default_rng(0).standard_normal((3, EMBEDDING_DIM)).astype(np.float32)
    g.add([Window(0.0, 1.5), Window(0.75, 2.25), Window(3.0, 3.6)], emb, 10.0)
    back = runner.voices_from_dict(runner.voices_to_dict(g))
    assert back is not None and back.windows == g.windows and np.array_equal(back.embeddings, emb)
    assert runner.voices_from_dict(runner.voices_to_dict(None)) is None
    silent = runner.voices_from_dict(runner.voices_to_dict(Gathered()))  # a window without speech
    assert silent is not None and len(silent) == 0 and silent.embeddings.shape == (0, EMBEDDING_DIM)
    t = window_result([(1.0, 4.0, 0)]).transcript
    assert runner.transcript_from_dict(runner.transcript_to_dict(t)) == t  # words too
    with pytest.raises(ValueError, match="one embedding per window"):
        g.add([Window(0.0, 1.5)], emb)


def test_the_recording_is_labelled_once_from_its_voice_windows() -> None:
    turns = [(1.0 + 3 * i, 3.5 + 3 * i, i % 2) for i in range(8)]  # alternating, 24 s per window
    live = feed([window_result(turns), window_result(turns)], [0.0, 26.0])
    got = live.finish_live(0)
    assert got.voices is not None
    found = labelling.diarizer_for(2).cluster_gathered(got.voices)  # numpy only: no model is loaded
    labels = ["Therapist", "Client"]
    plain = labelling.by_voice(got.transcript, found, labels, None)
    assert plain.speaker_basis == UNKNOWN_ROLES and plain.words == ()
    assert [s.speaker for s in plain.segments] == ["Speaker 1", "Speaker 2"] * 8
    enrolled = labelling.by_voice(got.transcript, found, labels, VOICE[1])  # the second voice is the therapist
    assert enrolled.speaker_basis == ENROLLED
    assert [s.speaker for s in enrolled.segments] == ["Client", "Therapist"] * 8
    nothing = labelling.by_voice(got.transcript, labelling.diarizer_for(2).cluster_gathered(Gathered()), labels, None)
    assert nothing.speaker_basis == TOO_LITTLE and all(s.speaker is None for s in nothing.segments)
