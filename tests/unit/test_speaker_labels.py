"""Speaker labels through the product, without a model: settings, the transcript file, the labelling
decisions (roles only from two channels or an enrolled voice), segment splitting, the drafter's
attribution, risk quotes, the llm prompt rule, the swap of roles, and the SRT/VTT/JSON exports."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hushnote.daemon.core.config import defaults, validate
from hushnote.daemon.core.datatypes import (
    CHANNEL,
    ENROLLED,
    MORE_VOICES,
    ONE_VOICE,
    SWAPPED,
    TOO_ALIKE,
    UNKNOWN_ROLES,
    Segment,
    Transcript,
    Word,
    parse_speakers,
    stamp,
)
from hushnote.daemon.core.errors import ConfigError, InputError
from hushnote.daemon.drafting.engine import draft
from hushnote.daemon.drafting.llm import speaker_rule
from hushnote.daemon.drafting.text import is_subsequence
from hushnote.daemon.notes import labelling, notefile, subtitles
from hushnote.daemon.notes.swap import swap_roles
from hushnote.daemon.speakers import Clustering, Window, WindowLabels

from tests.support.aci import aci_transcript
from tests.support.subtitles import parse_srt, parse_vtt

ATTRIB_RE = re.compile(r'^(?:(?P<who>[\w ]+?)(?P<stated> stated)?|Stated in session): "(?P<q>.*)" (?P<stamp>\[[^\]]+\])$')
ROLE = {"patient": "Client", "doctor": "Therapist"}


# ----------------------------------------------------------------------------- settings

def test_speaker_settings_have_defaults_and_reject_bad_values() -> None:
    cfg = defaults()
    assert (cfg["speakers.enabled"], cfg["speakers.labels"], cfg["speakers.count"]) == (True, ["Therapist", "Client"], 2)
    assert cfg["notes.export"] == []
    ok = validate({"speakers": {"labels": ["Counsellor", "Patient"], "count": 3}, "notes": {"export": ["srt", "json"]}},
                  "t")
    assert ok["speakers.labels"] == ["Counsellor", "Patient"] and ok["notes.export"] == ["srt", "json"]
    with pytest.raises(ConfigError) as e:
        validate({"speakers": {"labels": ["Therapist"], "count": 4}, "notes": {"export": ["pdf"]}}, "t")
    text = str(e.value)
    assert "speakers.labels" in text and "speakers.count" in text and "notes.export" in text
    for bad in (["Speaker 1", "Client"], ["Client", "client"], ["Ther: apist", "Client"]):
        with pytest.raises(ConfigError):
            validate({"speakers": {"labels": bad}}, "t")


# ----------------------------------------------------------------------------- the transcript file

def labelled(names: tuple[str, ...] = ("Therapist", "Client"), basis: str = CHANNEL) -> Transcript:
    a, b = names[:2]
    segs = (Segment(3.0, 5.5, "How have you been sleeping?", a),
            Segment(6.0, 11.2, "I've been sleeping about four hours.", b),
            Segment(12.0, 14.0, "Note: that is new.", None),
            Segment(192.4, 196.0, "Let's try a sleep diary this week.", a))
    return Transcript(segs, "en", 200.0, "base", "s.flac", speakers=names, speaker_basis=basis)


@pytest.mark.parametrize(("names", "basis", "line"), [
    (("Therapist", "Client"), CHANNEL, "Therapist/Client (by channel)"),
    (("Therapist", "Client"), ENROLLED, "Therapist/Client (enrolled voice)"),
    (("Speaker 1", "Speaker 2"), UNKNOWN_ROLES, "Speaker 1/2 (roles unknown)"),
    (("Client", "Therapist"), SWAPPED, "Client/Therapist (swapped by the clinician)"),
    (("Speaker 1", "Speaker 2", "Speaker 3"), MORE_VOICES, "Speaker 1/2/3 (more voices than expected, roles unknown)"),
])
def test_transcript_lines_name_the_speaker_and_read_back(tmp_path: Path, names: tuple[str, ...], basis: str,
                                                         line: str) -> None:
    t = labelled(names, basis)
    text = notefile.render_transcript(t)
    assert f'speakers: "{line}"' in text
    assert f"[00:00:06] {names[1]}: I've been sleeping about four hours." in text
    assert "[00:03:12] " + names[0] + ": Let's try" in text
    path = tmp_path / "s.transcript.md"
    path.write_text(text, encoding="utf-8")
    back = notefile.read_transcript(path)
    assert (back.speakers, back.speaker_basis) == (names, basis)
    assert [(s.speaker, s.text) for s in back.segments] == [(s.speaker, s.text) for s in t.segments]
    assert parse_speakers(line) == (names, basis)


def test_unlabelled_transcript_says_why_and_a_colon_in_speech_is_not_a_speaker(tmp_path: Path) -> None:
    t = dataclasses.replace(labelled(), segments=(Segment(1.0, 2.0, "Client: that's what my boss calls me."),),
                            speakers=(), speaker_basis=ONE_VOICE)
    text = notefile.render_transcript(t)
    assert 'speakers: "one speaker, lines not labelled: only one voice was heard"' in text
    path = tmp_path / "u.transcript.md"
    path.write_text(text, encoding="utf-8")
    back = notefile.read_transcript(path)
    assert back.speaker_basis == ONE_VOICE and back.segments[0].speaker is None
    assert back.segments[0].text == "Client: that's what my boss calls me."
    off = notefile.render_transcript(dataclasses.replace(t, speaker_basis=""))
    assert "speakers:" not in off


# ----------------------------------------------------------------------------- labelling decisions

def _words(spans: list[tuple[float, float, str, int]]) -> tuple[Word, ...]:
    return tuple(Word(a, b, f" {w}", seg) for a, b, w, seg in spans)


def test_segments_are_split_where_the_speaker_changes() -> None:
    segs = (Segment(0.0, 4.0, "Are you sleeping? Not really."), Segment(5.0, 6.0, "Okay."))
    words = _words([(0.0, 0.5, "Are", 0), (0.5, 0.9, "you", 0), (0.9, 1.6, "sleeping?", 0),
                    (2.4, 3.0, "Not", 0), (3.0, 3.9, "really.", 0), (5.0, 6.0, "Okay.", 1)])
    t = Transcript(segs, "en", 6.0, "base", words=words)
    out = labelling.apply_labels(t, [0, 0, 0, 1, 1, 0], {0: "Therapist", 1: "Client"}, CHANNEL)
    assert [(s.start, s.end, s.speaker, s.text) for s in out.segments] == [
        (0.0, 1.6, "Therapist", "Are you sleeping?"), (2.4, 3.9, "Client", "Not really."),
        (5.0, 6.0, "Therapist", "Okay.")]
    assert out.words == () and out.speakers == ("Therapist", "Client") and out.roles_known
    unknown = labelling.apply_labels(t, [None] * 6, {0: "Speaker 1", 1: "Speaker 2"}, UNKNOWN_ROLES)
    assert all(s.speaker is None for s in unknown.segments)


def test_role_names_for_two_and_three_people() -> None:
    assert labelling.role_names(["Therapist", "Client"], 2, 1) == {1: "Therapist", 0: "Client"}
    assert labelling.role_names(["Therapist", "Client"], 3, 0) == {0: "Therapist", 1: "Client 1", 2: "Client 2"}
    assert labelling.anonymous_names(2) == {0: "Speaker 1", 1: "Speaker 2"}


def _found(turns: list[tuple[float, float, int]], similarity: float) -> WindowLabels:
    """Windows every 0.75 s over the turns, each scoring its own speaker's centroid high (unit vectors)."""
    windows, rows, labels = [], [], []
    for a, b, k in turns:
        t = a
        while t + 1.5 <= b:
            windows.append(Window(t, t + 1.5))
            rows.append([0.9 if j == k else 0.1 for j in range(3)])
            labels.append(k)
            t += 0.75
    count = len({k for *_, k in turns})
    cent = np.eye(count, 192, dtype=np.float32)
    return WindowLabels(windows, np.array(rows, dtype=np.float32)[:, :count],
                        Clustering(np.array(labels, dtype=np.int64), cent, similarity))


def _session() -> Transcript:
    """Two turns of words (0-9 s and 10.6-19 s), one Whisper segment each."""
    spans = [(round(float(t), 2), round(float(t) + 0.4, 2), f"w{i}", k)
             for k, (a, b) in enumerate(((0.2, 9.0), (10.6, 19.0))) for i, t in enumerate(np.arange(a, b, 0.5))]
    segs = tuple(Segment(min(x[0] for x in spans if x[3] == k), max(x[1] for x in spans if x[3] == k),
                         " ".join(w for *_, w, s in spans if s == k)) for k in (0, 1))
    return Transcript(segs, "en", 20.0, "base", words=_words(spans))


def test_roles_come_only_from_a_clear_enrolment_match_never_guessed() -> None:
    t, found = _session(), _found([(0.0, 10.0, 0), (10.0, 20.0, 1)], similarity=0.1)
    anon = labelling.by_voice(t, found, ["Therapist", "Client"], None)
    assert anon.speaker_basis == UNKNOWN_ROLES and [s.speaker for s in anon.segments] == ["Speaker 1", "Speaker 2"]
    voice = np.eye(1, 192, 1, dtype=np.float32)[0]  # the second voice is the enrolled therapist
    known = labelling.by_voice(t, found, ["Therapist", "Client"], voice)
    assert known.speaker_basis == ENROLLED and [s.speaker for s in known.segments] == ["Client", "Therapist"]
    assert known.speakers == ("Therapist", "Client")  # the therapist first, though the client spoke first
    assert [known.role_of(s.speaker) for s in known.segments] == ["client", "clinician"]
    stranger = np.eye(1, 192, 5, dtype=np.float32)[0]  # matches neither cluster: no role
    assert labelling.by_voice(t, found, ["Therapist", "Client"], stranger).speaker_basis == UNKNOWN_ROLES


def test_more_voices_than_expected_give_speaker_numbers_and_no_roles_even_with_an_enrolled_voice() -> None:
    t = _session()
    two = _found([(0.0, 10.0, 0), (10.0, 20.0, 1)], similarity=0.1)
    three = _found([(0.0, 6.0, 0), (6.0, 10.0, 2), (10.0, 20.0, 1)], similarity=0.2)
    found = dataclasses.replace(two, more=three)
    voice = np.eye(1, 192, 1, dtype=np.float32)[0]  # would match the second voice: the therapist
    for vp in (None, voice):
        out = labelling.by_voice(t, found, ["Therapist", "Client"], vp)
        assert out.speaker_basis == MORE_VOICES and out.speakers == ("Speaker 1", "Speaker 2", "Speaker 3")
        assert not out.roles_known and out.role_of("Speaker 2") is None
        assert [s.speaker for s in out.segments] == ["Speaker 1", "Speaker 3", "Speaker 2"]
        assert out.speakers_line == "Speaker 1/2/3 (more voices than expected, roles unknown)"


def test_one_voice_or_voices_too_alike_give_no_labels_and_say_why() -> None:
    t = _session()
    one = labelling.by_voice(t, _found([(0.0, 20.0, 0)], similarity=0.2), ["Therapist", "Client"], None)
    alike = labelling.by_voice(t, _found([(0.0, 10.0, 0), (10.0, 20.0, 1)], similarity=0.55), ["T", "C"], None)
    nothing = labelling.by_voice(t, None, ["Therapist", "Client"], None)
    for out, basis in ((one, ONE_VOICE), (alike, TOO_ALIKE), (nothing, "too little speech")):
        assert out.speaker_basis == basis and out.speakers == () and out.words == ()
        assert all(s.speaker is None for s in out.segments) and out.segments == t.segments
        assert out.speakers_line.startswith("one speaker, lines not labelled")


# ----------------------------------------------------------------------------- the drafter

def as_labelled(t: Transcript, names: dict[str, str], basis: str) -> Transcript:
    """An ACI dialogue as hushnote would label it: timed lines, the dialogue's speakers renamed."""
    segs, clock = [], 0.0
    for s in t.segments:
        dur = max(2.0, len(s.text.split()) * 0.4)
        segs.append(Segment(round(clock, 2), round(clock + dur, 2), s.text, names[str(s.speaker)]))
        clock += dur + 1.0
    order = tuple(dict.fromkeys(names[k] for k in ("doctor", "patient")))
    return Transcript(tuple(segs), "en", clock, "base", "s.flac", speakers=order, speaker_basis=basis)


def _attributions(note_text: list[str]) -> list[tuple[str | None, bool, str, str]]:
    out = []
    for line in note_text:
        m = ATTRIB_RE.match(line)
        assert m, line
        out.append((m.group("who"), bool(m.group("stated")), m.group("q"), m.group("stamp")))
    return out


@pytest.mark.parametrize("i", [0, 3, 7])
def test_a_therapist_sentence_is_never_quoted_as_the_clients(eval_dir: Path, tmp_path: Path, i: int) -> None:
    t = as_labelled(aci_transcript(eval_dir, i, tmp_path), ROLE, CHANNEL)
    note = draft(t, defaults(), template="soap", engine="extractive")
    by_key = {s.key: [x.text for x in s.sentences] for s in note.sections}
    seen = set()
    for key, lines in by_key.items():
        for who, stated, q, st in _attributions(lines):
            said_by = {s.speaker for s in t.segments if stamp(s.start) == st and is_subsequence(q, s.text)}
            assert said_by, (q, st)
            if who == "Client":
                assert stated and said_by == {"Client"}, (q, said_by)
            elif who == "Therapist":
                assert not stated and said_by == {"Therapist"}, (q, said_by)
            else:
                assert who is None, who
            seen.add(who)
            if key == "subjective":
                assert who != "Therapist", q  # Subjective: the client's words (or a must-keep item)
    assert "Client" in seen and "Therapist" in seen
    rendered = notefile.render_note(note, t)
    assert 'speakers: "Therapist/Client (by channel)"' in rendered


def test_speaker_1_2_attributes_nothing_and_risk_quotes_name_a_known_speaker(eval_dir: Path, tmp_path: Path) -> None:
    base = aci_transcript(eval_dir, 0, tmp_path, extra={4: "[patient] Some nights I think about killing myself."})
    anon = as_labelled(base, {"patient": "Speaker 2", "doctor": "Speaker 1"}, UNKNOWN_ROLES)
    note = draft(anon, defaults(), template="soap", engine="extractive")
    lines = [x.text for s in note.sections for x in s.sentences]
    assert lines and all(x.startswith('Stated in session: "') for x in lines)
    assert note.risk and all(e.speaker is None for e in note.risk)
    known = draft(as_labelled(base, ROLE, ENROLLED), defaults(), template="soap", engine="extractive")
    risk = [e for e in known.risk if "killing myself" in e.text]
    assert risk and risk[0].speaker == "Client" and str(risk[0]).startswith('Client: "Some nights')


def test_the_llm_prompt_is_told_what_the_labels_mean() -> None:
    assert '"Therapist" is the therapist, "Client" is the client' in speaker_rule(labelled())
    anon = speaker_rule(labelled(("Speaker 1", "Speaker 2"), UNKNOWN_ROLES))
    assert "roles are not known" in anon and "Therapist" not in anon
    assert speaker_rule(dataclasses.replace(labelled(), segments=(Segment(0, 1, "hi"),), speakers=(),
                                            speaker_basis="")) == ""


def test_swap_exchanges_the_two_roles_and_refuses_without_known_roles() -> None:
    t = labelled()
    s = swap_roles(t)
    assert [x.speaker for x in s.segments] == ["Client", "Therapist", None, "Client"]
    assert s.speaker_basis == SWAPPED and s.speakers == ("Therapist", "Client")
    assert [x.speaker for x in swap_roles(s).segments] == [x.speaker for x in t.segments]
    with pytest.raises(InputError, match="cannot be swapped"):
        swap_roles(labelled(("Speaker 1", "Speaker 2"), UNKNOWN_ROLES))


# ----------------------------------------------------------------------------- exports

def test_srt_vtt_and_json_read_back_with_times_and_speakers(tmp_path: Path) -> None:
    t = dataclasses.replace(labelled(), segments=(*labelled().segments, Segment(197.0, 197.0, "A <b> & c", "Client")))
    paths = subtitles.write_exports(t, tmp_path, "s", ["srt", "vtt", "json", "srt"])
    assert [p.name for p in paths] == ["s.transcript.srt", "s.transcript.vtt", "s.transcript.json"]
    srt = parse_srt(paths[0].read_text(encoding="utf-8"))
    vtt = parse_vtt(paths[1].read_text(encoding="utf-8"))
    doc = json.loads(paths[2].read_text(encoding="utf-8"))
    assert len(srt) == len(vtt) == len(doc["segments"]) == len(t.segments)
    for seg, (a, b, text), (va, vb, voice, said), js in zip(t.segments, srt, vtt, doc["segments"], strict=True):
        assert a == va == js["start"] == pytest.approx(seg.start, abs=1e-3)
        assert b == vb == js["end"] and b > a
        assert text == (f"{seg.speaker}: {seg.text}" if seg.speaker else seg.text)
        assert (voice, said) == (seg.speaker, seg.text)
        assert (js["speaker"], js["text"]) == (seg.speaker, seg.text)
    assert doc["speakers"] == ["Therapist", "Client"] and doc["speaker_basis"] == CHANNEL
    with pytest.raises(InputError, match="pdf"):
        subtitles.check_formats(["srt", "pdf"])
