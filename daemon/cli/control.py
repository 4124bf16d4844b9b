"""``hushnote status|queue|pause|resume|retry ID|cancel ID``: ask the running service over IPC.

Plain sentences for a clinician; ``--json`` prints the service's raw result instead. Exit codes:
0 done, 1 the service refused (no such job, wrong state, internal problem), 2 unknown command,
3 the service is not running / did not answer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Mapping
from typing import Any

from hushnote.daemon.core.config import Config
from hushnote.ipc.client import ConnectionLost, DaemonNotRunning, IpcClient, IpcError, ServiceTimeout
from hushnote.ipc.paths import endpoint

_CODE_RE = re.compile(r"[a-z][a-z0-9_]*: ")

OPS = ("status", "queue", "pause", "resume", "retry", "cancel", "delete")

STAGES = {"decode": "reading the audio", "transcribe": "transcribing", "draft": "drafting the note",
          "write": "writing the files"}
STATES = {"queued": "waiting", "running": "in progress", "done": "done", "failed": "failed",
          "cancelled": "cancelled", "ingesting": "arriving"}
KINDS = {"recording": "recording", "inbox": "inbox file"}


def main(args: argparse.Namespace, cfg: Config) -> int:
    op = str(args.command)
    if op not in OPS:
        print(f"hushnote: unknown command {op!r}.", file=sys.stderr)
        return 2
    params: dict[str, Any] = {"id": str(args.job_id)} if op in ("retry", "cancel", "delete") else {}
    result = ask(IpcClient(endpoint(cfg)), op, **params)
    if isinstance(result, int):
        return result
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(FORMATTERS[op](result))
    return 0


def ask(client: IpcClient, op: str, /, **params: Any) -> dict[str, Any] | int:
    """One request. On failure the service's plain message goes to stderr and the exit code is returned:
    3 the service is not running / did not answer, 1 it refused."""
    try:
        return client.call(op, **params)
    except (DaemonNotRunning, ServiceTimeout, ConnectionLost) as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except IpcError as exc:
        print(exc.message, file=sys.stderr)
        return 1


# ----------------------------------------------------------------------------- formatting (pure)

def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def when(iso: Any) -> str:
    """An ISO-8601 time as ``2025-01-02 14:05`` in local time; anything unreadable is shown as it came."""
    if not isinstance(iso, str):
        return "unknown"
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if t.tzinfo is not None:
        t = t.astimezone()
    return t.strftime("%Y-%m-%d %H:%M")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_status(r: Mapping[str, Any]) -> str:
    state = r.get("state")
    who = f"process {r.get('pid', '?')}, version {r.get('version', '?')}"
    if state == "paused":
        lines = [f"The hushnote service is paused ({who}).",
                 "New audio is still collected, but nothing is processed until you run `hushnote resume`."]
    else:
        lines = [f"The hushnote service is running ({who})."]
    running = _running_jobs(r)
    if not running:
        lines.append("Working on: nothing right now.")
    for cur in running:
        lines.append(f"Working on: {_running_line(cur)}.")
    rec = r.get("recording")
    if isinstance(rec, Mapping) and rec.get("recording"):
        secs = int(rec.get("elapsed_s") or 0)
        lines.append(f"Recording a session: {secs // 60}:{secs % 60:02d} so far (stop it with `hushnote record stop`).")
    raw_q = r.get("queue")
    q: Mapping[str, Any] = raw_q if isinstance(raw_q, Mapping) else {}
    lines.append(f"Queue: {_int(q.get('queued'))} waiting, {_int(q.get('running'))} in progress, "
                 f"{_int(q.get('done'))} done, {_int(q.get('failed'))} failed, "
                 f"{_int(q.get('cancelled'))} cancelled.")
    nxt = r.get("next_retention")
    if nxt:
        lines.append(f"Next clean-up of old audio: {when(nxt)}.")
    g = r.get("guard")
    if isinstance(g, Mapping):
        if not g.get("installed"):
            lines.append("Network guard: not active in the service.")
        elif g.get("allow_network"):
            lines.append("Network guard: counting only (guard.enabled = false).")
        else:
            n = _int(g.get("blocked"))
            lines.append(f"Network guard: on; {_plural(n, 'connection attempt')} refused since it started.")
    kept = _int(r.get("failed_audio_kept"))
    if kept:
        lines.append(f"Audio kept from failed jobs: {_plural(kept, 'recording')}. "
                     "See `hushnote queue`, then `hushnote retry ID` to try again.")
    return "\n".join(lines)


def _running_jobs(r: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every running job of a ``status`` result (``running``; an older service sends only ``current``)."""
    running = r.get("running")
    if isinstance(running, list):
        return [j for j in running if isinstance(j, Mapping)]
    cur = r.get("current")
    return [cur] if isinstance(cur, Mapping) else []


def _running_line(cur: Mapping[str, Any]) -> str:
    """``Session 2025-03-01 09-00 (recording, job a1b2c3), transcribing, 42% done``: the percentage is the
    whole job's (it does not start again at each stage)."""
    stage = STAGES.get(str(cur.get("stage")), str(cur.get("stage") or "working"))
    frac = cur.get("fraction")
    pct = f", {round(float(frac) * 100)}% done" if isinstance(frac, int | float) and not isinstance(frac, bool) \
        else ""
    kind = KINDS.get(str(cur.get("kind")), str(cur.get("kind") or "job"))
    session = cur.get("session")
    who = f"{session} ({kind}, job {cur.get('id', '?')})" if session else f"job {cur.get('id', '?')} ({kind})"
    return f"{who}, {stage}{pct}"


def _problem(job: Mapping[str, Any]) -> str | None:
    """The plain reason a job failed (an older service sends only its ``error`` code and text)."""
    reason = job.get("reason")
    if isinstance(reason, str) and reason:
        return reason
    error = job.get("error")
    return str(error) if error else None


def _without_code(stored: str) -> str:
    """``audio_ended_early: the recording ended early …`` -> ``The recording ended early …`` (no internal code)."""
    m = _CODE_RE.match(stored)
    text = stored[m.end():] if m else stored
    return text[:1].upper() + text[1:]


def format_queue(r: Mapping[str, Any]) -> str:
    jobs = [j for j in (r.get("jobs") or []) if isinstance(j, Mapping)]
    if not jobs:
        return "The queue is empty."
    head = ("ID", "SESSION", "KIND", "STATE", "TRIES", "ADDED", "UPDATED")
    rows = [(str(j.get("id", "?")), str(j.get("session") or "-"),
             KINDS.get(str(j.get("kind")), str(j.get("kind", ""))),
             STATES.get(str(j.get("state")), str(j.get("state", ""))), str(_int(j.get("attempts"))),
             when(j.get("created")), when(j.get("updated"))) for j in jobs]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    for job, row in zip(jobs, rows, strict=True):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        problem = _problem(job)
        if problem:
            out.append(f"    Problem: {problem}")
        if job.get("warning"):
            out.append(f"    Note: {_without_code(str(job['warning']))}")
    failed = sum(1 for j in jobs if j.get("state") == "failed")
    out.append("")
    out.append(f"{_plural(len(jobs), 'job')}." + (" Retry a failed one with `hushnote retry ID`." if failed else ""))
    return "\n".join(out)


def format_pause(r: Mapping[str, Any]) -> str:
    if r.get("state") == "paused":
        return "Processing is paused. New audio waits in the queue until you run `hushnote resume`."
    return f"The service is {r.get('state', 'in an unknown state')}."


def format_resume(r: Mapping[str, Any]) -> str:
    if r.get("state") == "running":
        return "Processing resumed. Waiting audio will be turned into notes."
    return f"The service is {r.get('state', 'in an unknown state')}."


def format_retry(r: Mapping[str, Any]) -> str:
    if r.get("state") == "queued":
        return f"Job {r.get('id', '?')} will be tried again: it is back in the queue."
    return f"Job {r.get('id', '?')} is now {STATES.get(str(r.get('state')), r.get('state'))}."


def format_cancel(r: Mapping[str, Any]) -> str:
    if r.get("state") == "cancelled":
        return f"Job {r.get('id', '?')} is cancelled. It will not be processed."
    return f"Job {r.get('id', '?')} is now {STATES.get(str(r.get('state')), r.get('state'))}."


def format_delete(r: Mapping[str, Any]) -> str:
    if r.get("deleted"):
        return (f"The audio of job {r.get('id', '?')} is deleted: its key was destroyed, so it can never be "
                "opened again. The note and transcript are kept.")
    return f"The audio of job {r.get('id', '?')} was already gone. The note and transcript are kept."


FORMATTERS = {"status": format_status, "queue": format_queue, "pause": format_pause, "resume": format_resume,
              "retry": format_retry, "cancel": format_cancel, "delete": format_delete}
