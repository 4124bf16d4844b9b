"""The llm drafter: a local GGUF model through llama.cpp, answering in JSON constrained to the template.

- the model's own chat template (GGUF ``tokenizer.chat_template``) is used; a model without one is refused
  unless ``drafting.chat_format`` names a llama.cpp chat format;
- the answer is constrained by a JSON schema (one array of short sentences per template section);
- temperature 0, fixed seed: the same transcript and model give the same draft;
- long sessions are never truncated: when the transcript does not fit ``n_ctx`` with room for the answer
  (counted with the model's own tokenizer), each window is drafted (map) and the drafts are merged
  (reduce: a second model pass when it fits, else a deterministic merge with de-duplication).

The model is loaded lazily, cached for the process, and released with ``unload()``.
Grounding and risk filtering happen afterwards in ``engine.finish`` for every sentence written here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import (
    NoteSection,
    NoteSentence,
    Progress,
    Segment,
    Transcript,
    no_progress,
    stamp,
)
from hushnote.daemon.core.errors import ModelError
from hushnote.daemon.drafting.gguf_meta import GgufFormatError, read_header
from hushnote.daemon.drafting.roles import speakers_of
from hushnote.daemon.drafting.template import Template
from hushnote.daemon.drafting.text import content_stems, jaccard

log = logging.getLogger(__name__)

SEED = 1234
MAX_ITEMS = 6  # most sentences per section in one answer
TEMPLATE_SLACK = 48  # tokens the chat template adds around our messages
DUPLICATE = 0.7  # Jaccard on content stems at or above which two sentences say the same thing

_lock = threading.Lock()
_model: Any = None
_model_key: tuple[Any, ...] | None = None
_sha_cache: dict[tuple[str, int, int], str] = {}


REVIEW_KEY = "review"  # the answer's list of transcript sentences with risk language (candidates only)


@dataclass
class LlmResult:
    sections: list[NoteSection]
    model: str
    model_sha256: str
    strategy: str
    raw_answers: list[str]  # the model's JSON answers (kept for tests; never logged)
    review: list[str] = field(default_factory=list)  # risk candidates; engine.finish keeps verbatim ones only


# ----------------------------------------------------------------------------- model

def _model_path(cfg: Config) -> Path:
    raw = str(cfg["drafting.model_path"]).strip()
    if not raw:
        raise ModelError("The llm engine needs a model, and none is set.",
                         "Set drafting.model_path to a GGUF file, or use the extractive engine.")
    return cfg.path("drafting.model_path")


def check_model_file(path: Path, chat_format: str) -> dict[str, Any]:
    """Refuse a missing, unreadable or non-GGUF file, or one with no chat template and no chat_format."""
    if not path.is_file():
        raise ModelError(f"The drafting model {path} does not exist.",
                         "Check drafting.model_path, or use the extractive engine.", path=str(path))
    try:
        head = read_header(path)
    except OSError as exc:
        raise ModelError(f"The drafting model {path} cannot be read ({exc.__class__.__name__}).",
                         "Check the file's permissions.", path=str(path)) from None
    except GgufFormatError as exc:
        raise ModelError(f"The drafting model {path} is not a usable GGUF file ({exc}).",
                         "Download the model again (hushnote models fetch).", path=str(path)) from None
    template = head.kv.get("tokenizer.chat_template")
    if not (isinstance(template, str) and template.strip()) and not chat_format:
        raise ModelError(f"The drafting model {path} has no chat template, so hushnote cannot tell how to "
                         "prompt it.", "Use an instruction-tuned GGUF with a chat template, or set "
                         "drafting.chat_format (e.g. \"chatml\") if you know the model's format.", path=str(path))
    return head.kv


def model_sha256(path: Path) -> str:
    """Full sha256 of the model file, computed once per process per path + mtime + size."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def get_model(cfg: Config) -> Any:
    """The cached ``llama_cpp.Llama`` for ``cfg``; loaded on first use (or when the settings change)."""
    global _model, _model_key
    path = _model_path(cfg)
    chat_format = str(cfg["drafting.chat_format"]).strip()
    check_model_file(path, chat_format)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, int(cfg["drafting.n_ctx"]), cfg.llm_threads, chat_format)
    with _lock:
        if _model is not None and _model_key == key:
            return _model
        _unload_locked()
        # llama.cpp's OpenMP threads busy-wait by default; on a busy 2-core machine (transcription, other
        # jobs) that slows drafting ~10x. Passive waiting costs nothing when the CPU is idle. Must be set
        # before the library (and its OpenMP runtime) is first loaded; a user's own setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError("The llm engine needs llama-cpp-python, which is not installed.",
                             "Install it with: pip install 'hushnote[llm]', or use the extractive engine.") from None
        try:
            _model = Llama(model_path=str(path), n_ctx=int(cfg["drafting.n_ctx"]), n_threads=cfg.llm_threads,
                           n_threads_batch=cfg.llm_threads, seed=SEED, verbose=False,
                           chat_format=chat_format or None)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp could not load the drafting model {path} ({exc.__class__.__name__}).",
                             "The file may be damaged or from an unsupported model family.", path=str(path)) from None
        _model_key = key
        log.info("drafting model loaded (n_ctx=%d, threads=%d)", int(cfg["drafting.n_ctx"]), cfg.llm_threads)
        return _model


def _unload_locked() -> None:
    global _model, _model_key
    if _model is not None:
        close = getattr(_model, "close", None)
        if callable(close):
            close()
    _model = None
    _model_key = None


def unload() -> None:
    """Release the cached model (the service calls this after ``models.idle_unload_s``)."""
    with _lock:
        _unload_locked()


def loaded() -> bool:
    return _model is not None


# ----------------------------------------------------------------------------- prompt and schema

def schema(tpl: Template, *, review: bool = False) -> dict[str, Any]:
    """One array of sentences per section; with ``review``, also the risk candidates (a drafting pass)."""
    props: dict[str, Any] = {s.key: {"type": "array", "maxItems": min(MAX_ITEMS, s.max_sentences),
                                     "items": {"type": "string"}}
                             for s in tpl.sections}
    required = tpl.keys()
    if review and REVIEW_KEY not in props:
        props[REVIEW_KEY] = {"type": "array", "maxItems": MAX_ITEMS, "items": {"type": "string"}}
        required = [*required, REVIEW_KEY]
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def speaker_rule(transcript: Transcript) -> str:
    """The prompt's rule about the transcript's speaker labels ("" when its lines name nobody)."""
    known = speakers_of(transcript)
    if known.labelled:
        who = ", ".join(f'"{n}" is the {"therapist" if r == "clinician" else "client"}' for n, r in known.roles.items())
        return (f"- Each transcript line names who spoke: {who}. Report the client's words as the client's and "
                "the therapist's as the therapist's; never mix them up.\n")
    if any(s.speaker for s in transcript.segments):
        return ("- Transcript lines may name speakers whose roles are not known (e.g. Speaker 1): never say which "
                "of them is the client or the therapist.\n")
    return ""


def system_prompt(tpl: Template, *, merge: bool = False, speakers: str = "") -> str:
    """``speakers``: ``speaker_rule`` of the transcript (a drafting pass only)."""
    sections = "\n".join(f'- "{s.key}" ({s.title}): {s.guidance}' for s in tpl.sections)
    banned = "\n".join(f"- {x}" for x in tpl.must_not_include)
    task = ("You merge partial drafts of one clinical progress note, written from consecutive parts of the same "
            "therapy session, into one note. Keep every distinct fact, remove repeats, add nothing."
            if merge else
            "You draft a clinical progress note from a therapy session transcript.")
    review = ("" if merge else
              f'- In "{REVIEW_KEY}", copy word for word every transcript sentence about suicide, wanting to die, '
              "self-harm, harming others, abuse or violence, a child at risk, voices giving orders, dangerous "
              "drinking or drug use, eating-disorder behaviour or weapons (an empty list if none).\n")
    return (f"{task}\n"
            f"Template: {tpl.title}. Sections:\n{sections}\n"
            "Rules:\n"
            "- Write only facts stated in the transcript. No speculation, no interpretation, no advice.\n"
            "- Each item is one short, plain sentence (under 25 words) in the third person about what was "
            "said, e.g. \"The client reported ...\". Never a heading.\n"
            "- Keep numbers, names, medications and dates exactly as said; never add ones that were not said.\n"
            "- If the transcript says nothing for a section, give an empty list.\n"
            f"{review}{'' if merge else speakers}"
            f"Never include:\n{banned}\n"
            f"Answer with JSON only: an object with the keys {', '.join(_keys(tpl, review=not merge))}, "
            "each a list of sentences.")


def _keys(tpl: Template, *, review: bool) -> list[str]:
    return [*tpl.keys(), REVIEW_KEY] if review and REVIEW_KEY not in tpl.keys() else tpl.keys()


def transcript_lines(segments: list[Segment], timed: bool) -> str:
    out = []
    for s in segments:
        text = s.text.strip()
        if text:
            who = f"{s.speaker}: " if s.speaker else ""
            out.append(f"{stamp(s.start, timed)} {who}{text}")
    return "\n".join(out)


def _messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _ntok(model: Any, text: str) -> int:
    return len(model.tokenize(text.encode("utf-8"), add_bos=False, special=True))


# ----------------------------------------------------------------------------- answers

def parse_answer(raw: str, tpl: Template) -> dict[str, list[str]]:
    """The model's JSON answer as ``{section key: [sentences]}``; tolerant of a cut-off answer."""
    data: Any = None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = _salvage(raw)
    if not isinstance(data, dict):
        data = {}
    out: dict[str, list[str]] = {}
    for key in tpl.keys():
        items = data.get(key, [])
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            items = []
        out[key] = dedupe([re.sub(r"\s+", " ", x).strip() for x in items if isinstance(x, str) and x.strip()])
    return out


def parse_review(raw: str) -> list[str]:
    """The answer's risk candidates (strings only); nothing when the answer has none or is not JSON."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = _salvage(raw)
    items = data.get(REVIEW_KEY, []) if isinstance(data, dict) else []
    return [x.strip() for x in items if isinstance(x, str) and x.strip()] if isinstance(items, list) else []


def _salvage(raw: str) -> Any:
    """Close a JSON answer cut off by max_tokens at its last complete sentence."""
    text = raw.strip()
    for cut in range(len(text), 0, -1):
        if text[cut - 1] not in '"]':
            continue
        head = text[:cut]
        for tail in ("]}", "}", "]}}", ""):
            try:
                return json.loads(head + tail)
            except json.JSONDecodeError:
                continue
    return {}


def dedupe(sentences: list[str], against: list[str] | None = None) -> list[str]:
    kept: list[str] = []
    seen = [content_stems(s) for s in against or []]
    for s in sentences:
        stems = content_stems(s)
        if any(jaccard(stems, o) >= DUPLICATE or (stems and stems == o) for o in seen):
            continue
        if not stems and any(s.lower() == k.lower() for k in kept):
            continue
        kept.append(s)
        seen.append(stems)
    return kept


def to_sections(answer: dict[str, list[str]], tpl: Template) -> list[NoteSection]:
    return [NoteSection(s.key, s.title, [NoteSentence(x) for x in answer.get(s.key, [])]) for s in tpl.sections]


# ----------------------------------------------------------------------------- map / reduce

def windows(segments: list[Segment], model: Any, budget: int) -> list[list[Segment]]:
    """Consecutive groups of segments whose prompt lines fit ``budget`` tokens (a too-long segment is split)."""
    pieces: list[Segment] = []
    for s in segments:
        if s.text.strip():
            pieces.extend(_split_segment(s, model, budget))
    out: list[list[Segment]] = []
    cur: list[Segment] = []
    used = 0
    for s in pieces:
        n = _ntok(model, s.text) + 12  # + stamp, speaker and newline
        if cur and used + n > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(s)
        used += n
    if cur:
        out.append(cur)
    return out


def _split_segment(s: Segment, model: Any, budget: int) -> list[Segment]:
    if _ntok(model, s.text) + 12 <= budget:
        return [s]
    words = s.text.split()
    parts: list[Segment] = []
    chunk: list[str] = []
    for w in words:
        if chunk and _ntok(model, " ".join([*chunk, w])) + 12 > budget:
            parts.append(Segment(s.start, s.end, " ".join(chunk), s.speaker))
            chunk = []
        chunk.append(w)
    if chunk:
        parts.append(Segment(s.start, s.end, " ".join(chunk), s.speaker))
    return parts


def _ask(model: Any, system: str, user: str, tpl: Template, max_tokens: int, *,
         review: bool = False) -> tuple[str, bool]:
    """The model's answer, and whether it was complete (False: cut off at max_tokens)."""
    resp = model.create_chat_completion(
        messages=_messages(system, user),
        response_format={"type": "json_object", "schema": schema(tpl, review=review)},
        temperature=0.0, seed=SEED, max_tokens=max_tokens)
    choice = resp["choices"][0]
    return str(choice["message"]["content"] or ""), choice.get("finish_reason") != "length"


def draft_sections(transcript: Transcript, tpl: Template, cfg: Config,
                   progress: Progress = no_progress) -> LlmResult:
    model = get_model(cfg)
    path = _model_path(cfg)
    n_ctx = int(cfg["drafting.n_ctx"])
    max_tokens = int(cfg["drafting.max_tokens"])
    system = system_prompt(tpl, speakers=speaker_rule(transcript))
    overhead = _ntok(model, system) + _ntok(model, "Session transcript:\n") + TEMPLATE_SLACK
    budget = n_ctx - max_tokens - overhead
    if budget < 128:
        raise ModelError(f"drafting.n_ctx ({n_ctx}) leaves no room for the transcript next to the prompt and "
                         f"the answer (drafting.max_tokens = {max_tokens}).",
                         "Raise drafting.n_ctx or lower drafting.max_tokens.")
    segs = [s for s in transcript.segments if s.text.strip()]
    groups = windows(segs, model, budget)
    raw: list[str] = []
    answers: list[dict[str, list[str]]] = []
    review: list[str] = []
    for i, group in enumerate(groups):
        progress("draft", i / (len(groups) + 1), f"window {i + 1} of {len(groups)}")
        answer, complete = _ask(model, system, "Session transcript:\n" + transcript_lines(group, transcript.timed),
                                tpl, max_tokens, review=True)
        if not complete:
            log.warning("llm answer for window %d cut off at drafting.max_tokens; kept its complete sentences", i + 1)
        raw.append(answer)
        answers.append(parse_answer(answer, tpl))
        review.extend(parse_review(answer))
    if len(answers) == 1:
        merged = answers[0]
        strategy = "single"
    else:
        merged, reduce_raw = reduce(answers, model, tpl, n_ctx, max_tokens)
        raw.extend(reduce_raw)
        strategy = f"map-reduce ({len(groups)} windows)"
    log.info("llm draft done (%d window(s))", len(groups))
    return LlmResult(to_sections(merged, tpl), path.name, model_sha256(path), strategy, raw, review)


def merge_deterministic(answers: list[dict[str, list[str]]], tpl: Template) -> dict[str, list[str]]:
    """Concatenate the windows' sentences per section in session order, dropping near-duplicates."""
    out: dict[str, list[str]] = {k: [] for k in tpl.keys()}
    everything: list[str] = []
    for ans in answers:
        for key in tpl.keys():
            new = dedupe(ans.get(key, []), against=everything)
            out[key].extend(new)
            everything.extend(new)
    return out


def reduce(answers: list[dict[str, list[str]]], model: Any, tpl: Template, n_ctx: int,
           max_tokens: int) -> tuple[dict[str, list[str]], list[str]]:
    """Merge window drafts: with the model when the drafts fit its context, else deterministically."""
    merged = merge_deterministic(answers, tpl)
    system = system_prompt(tpl, merge=True)
    user = "Partial drafts, in session order:\n" + json.dumps(merged, ensure_ascii=False, indent=0)
    if _ntok(model, system) + _ntok(model, user) + TEMPLATE_SLACK + max_tokens > n_ctx:
        return merged, []
    raw, complete = _ask(model, system, user, tpl, max_tokens)
    answer = parse_answer(raw, tpl)
    if not complete or (not any(answer.values()) and any(merged.values())):
        return merged, [raw]  # the merge pass was cut off or lost everything: keep the deterministic merge
    return answer, [raw]
