"""The two files a user sees: ``<stem>.transcript.md`` and ``<stem>.note.md`` (YAML front matter + Markdown).

Front matter values are written as JSON scalars, which YAML reads as the same values.
``read_transcript`` reads our transcript files back, and also a plain-text dialogue
(one utterance per line, optionally ``[speaker] text`` as in ACI-BENCH).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hushnote.daemon import __version__
from hushnote.daemon.core.datatypes import Note, Segment, Transcript, parse_speakers, stamp, utc_now
from hushnote.daemon.core.errors import InputError, reading

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault

DRAFT_BANNER = "DRAFT — review before signing"
RISK_TITLE = "For clinician review"
NOT_DISCUSSED = "Not discussed in this session."  # a section the session gave nothing for: never padded

_ENDED_RE = re.compile(r"^ended early at (\d+):(\d\d):(\d\d)(?: of (\d+):(\d\d):(\d\d))?")
_LINE_RE = re.compile(r"^\[(\d{1,3}):(\d{2}):(\d{2})(?:\.\d+)?\]\s*(?:\*\*(?P<spk>[^*]+):\*\*\s*)?(?P<text>.*)$")
_SPEAKER_RE = re.compile(r"^\[(?P<spk>[A-Za-z][A-Za-z _-]{0,30})\]\s*(?P<text>.*)$")


def front_matter(fields: dict[str, Any]) -> str:
    body = "\n".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())
    return f"---\n{body}\n---\n"


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---\n", 4)
    if end < 0:
        return {}, text
    fields: dict[str, Any] = {}
    for line in text[4:end].splitlines():
        key, sep, raw = line.partition(":")
        if not sep:
            continue
        raw = raw.strip()
        try:
            fields[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            fields[key.strip()] = raw
    return fields, text[end + 5:]


def _hms(seconds: float) -> str:
    return stamp(seconds)[1:-1]


def audio_ended_early(t: Transcript) -> str | None:
    """``ended early at 00:01:23 of 00:05:00`` for a recording whose file was cut short, else None."""
    if not t.ended_early:
        return None
    of = f" of {_hms(t.expected_duration)}" if t.expected_duration else ""
    return f"ended early at {_hms(t.duration)}{of}"


def _ended_early_lines(t: Transcript) -> list[str]:
    ended = audio_ended_early(t)
    if ended is None:
        return []
    return [f"> The recording {ended}: its file was cut short (for example copied only in part), so this covers "
            "only the part before that. Check the original recording.", ""]


def _with_ended_early(fields: dict[str, Any], t: Transcript) -> dict[str, Any]:
    ended = audio_ended_early(t)
    return {**fields, "audio": ended} if ended else fields


def _with_speakers(fields: dict[str, Any], t: Transcript) -> dict[str, Any]:
    """``speakers: "Therapist/Client (by channel)"`` etc. when the transcript's speakers were labelled."""
    line = t.speakers_line
    return {**fields, "speakers": line} if line else fields


def transcript_line(seg: Segment, timed: bool) -> str:
    """``[00:03:12] Client: I've been sleeping about four hours.`` (no name when nobody is known)."""
    who = f"{seg.speaker}: " if seg.speaker else ""
    return f"{stamp(seg.start, timed)} {who}{seg.text.strip()}"


def _split_speaker(text: str, names: tuple[str, ...]) -> tuple[str | None, str]:
    """(speaker, text) of a line's text: a leading ``Name: `` counts only for a name the front matter lists."""
    for name in sorted(names, key=len, reverse=True):
        if text.startswith(f"{name}:"):
            return name, text[len(name) + 1:].strip()
    return None, text


def render_transcript(t: Transcript) -> str:
    head = front_matter(_with_speakers(_with_ended_early({
        "source": t.source,
        "duration": round(t.duration, 2),
        "language": t.language,
        "model": t.model,
        "hushnote_version": __version__,
    }, t), t))
    lines = ["# Transcript", "", *_ended_early_lines(t)]
    lines += [transcript_line(seg, t.timed) for seg in t.segments if seg.text.strip()]
    return head + "\n" + "\n".join(lines) + "\n"


def render_note(note: Note, t: Transcript, *, now: dt.datetime | None = None, job_id: str | None = None) -> str:
    """The note file. ``job_id``: the service's job that made it (``job:`` in the front matter), so that
    ``hushnote sign`` finds the job (and its audio) without the name the job forgets with its audio."""
    when = (now or utc_now()).astimezone()
    head = front_matter(_with_speakers(_with_ended_early({
        "source": t.source,
        **({"job": job_id} if job_id else {}),
        "date": when.date().isoformat(),
        "duration": round(t.duration, 2),
        "template": note.template,
        "engine": note.engine,
        "model": note.model,
        "model_sha256": note.model_sha256[:12],
        "drafting": note.strategy,
        **({"quotes": note.quotes} if note.quotes else {}),
        "unverified_sentences": note.unverified_count,
        "risk_flags": len(note.risk),
        "status": "draft",
        "hushnote_version": __version__,
    }, t), t))
    out = [f"# {DRAFT_BANNER}", "", *_ended_early_lines(t)]
    if note.unverified_count:
        out += [f"> {note.unverified_count} sentence(s) below are marked [unverified]: the transcript does not "
                "clearly support them. Check or delete them before signing.", ""]
    for sec in note.sections:
        out += [f"## {sec.title}", ""]
        if not sec.sentences:
            out += [NOT_DISCUSSED, ""]
            continue
        for s in sec.sentences:
            mark = "[unverified] " if s.unverified else ""
            out.append(f"- {mark}{s.text}")
        out.append("")
    if note.risk:
        out += [f"## {RISK_TITLE}", "",
                "The session contains language about risk. Quoted here for your review, each with the "
                "category it matched; it is not part of the clinical sections above. This is a reading aid, "
                "not a risk assessment: it can miss things.", ""]
        out += [f"- {ev}" for ev in note.risk]
        out.append("")
    return head + "\n" + "\n".join(out)


def read_transcript(path: Path, vault: Vault | None = None) -> Transcript:
    """Read a ``.transcript.md`` written by hushnote, or a plain-text dialogue. An encrypted one
    (``notes.encrypt``) is decrypted in memory with ``vault`` (``hushnote.daemon.privacy.vault.Vault``)."""
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a transcript file.", "Give the path of a .transcript.md or .txt file.",
                         path=str(path))
    with reading(path):
        raw = path.read_bytes()
    if raw.startswith(b"HNVAULT"):  # hushnote.daemon.privacy.vault's magic
        if vault is None:
            raise InputError(f"{path} is encrypted.", "Read it with `hushnote open`.", path=str(path))
        raw = b"".join(vault.iter_plaintext(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text file.",
                         "Give a .transcript.md written by hushnote or a plain-text dialogue.", path=str(path)) from None
    fields, body = parse_front_matter(text)
    names, basis = parse_speakers(str(fields.get("speakers") or ""))
    timed: list[Segment] = []
    for line in body.splitlines():
        m = _LINE_RE.match(line.strip())
        if m:
            h, mi, s = (int(m.group(i)) for i in (1, 2, 3))
            spk, said = (m.group("spk"), m.group("text").strip()) if m.group("spk") else \
                _split_speaker(m.group("text").strip(), names)
            timed.append(Segment(float(h * 3600 + mi * 60 + s), 0.0, said, spk or None))
    ended = _ENDED_RE.match(str(fields.get("audio") or ""))
    if timed:
        segs = tuple(
            Segment(seg.start, timed[i + 1].start if i + 1 < len(timed) else float(fields.get("duration") or seg.start),
                    seg.text, seg.speaker)
            for i, seg in enumerate(timed))
        expected = None
        if ended and ended.group(4):
            expected = float(int(ended.group(4)) * 3600 + int(ended.group(5)) * 60 + int(ended.group(6)))
        return Transcript(segs, str(fields.get("language", "en")), float(fields.get("duration") or segs[-1].end),
                          str(fields.get("model", "")), str(fields.get("source") or path.name), True,
                          ended is not None, expected, names, basis)
    # plain-text dialogue: one utterance per non-empty line; Segment.start is the line number
    segs_l: list[Segment] = []
    for n, line in enumerate(body.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m2 = _SPEAKER_RE.match(line)
        spk, txt = (m2.group("spk").strip(), m2.group("text").strip()) if m2 else (None, line)
        if txt:
            segs_l.append(Segment(float(n), float(n), txt, spk))
    return Transcript(tuple(segs_l), "en", 0.0, "text", path.name, False)
