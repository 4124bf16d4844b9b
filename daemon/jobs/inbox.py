"""The inbox: watch a folder (watchdog), wait until a file is complete, then take it in atomically.

A file becomes a *candidate* on a created / moved-in / modified / close-after-write event, at the startup
scan, or at the periodic rescan (a safety net for missed events). It is taken in only when it is
complete:

* On Linux (inotify) a writer's close-after-write event ends the "being written" phase; after it the
  size and mtime must stay unchanged for ``settle_closed_s``. While a file is being written (modify
  events seen, no close yet) it is not touched, however long the pauses between writes, unless nothing
  at all happens to it for ``stall_s`` (a writer that died holding the file open).
* An empty file that nobody closed yet waits ``EMPTY_SETTLE_S`` (a copier may not have started writing).
* Without close events (macOS, Windows, a file moved in from elsewhere, files present at startup) the
  size and mtime must stay unchanged for ``settle_s``.

Taking in (``Ingestor.ingest``): a job row ``ingesting`` with the target store path is committed first,
then the file is moved with ``os.replace`` (same filesystem; otherwise copy + fsync + rename, then the
inbox file is unlinked), then the row becomes ``queued``. With encryption at rest (``storage.encrypt_audio``,
the default) the file is instead encrypted into the store (a temp file renamed into place once complete), and
only then is the plaintext original unlinked. ``Store.reconcile_ingesting`` repairs a crash at any point
(it recognises a complete encrypted copy by its plaintext size). Files that are not usable audio are moved
to ``Inbox/failed/`` (never deleted) with an error report ``Notes/<stem>.error.txt``. Hidden/temporary names
and subfolders are ignored.

Nothing here logs a file name: only job ids and counts.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import shutil
import stat
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hushnote.daemon.core.crashpoints import crashpoint
from hushnote.daemon.core.fileio import atomic_write_text, fsync_dir
from hushnote.daemon.core.paths import ERROR_SUFFIX
from hushnote.daemon.core.threads import BackgroundThread
from hushnote.daemon.jobs.store import Job, Store
from hushnote.daemon.privacy.vault import ENCRYPTED_SUFFIX, MAGIC, is_encrypted, plain_name

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault

log = logging.getLogger("hushnote.inbox")

FAILED_DIR = "failed"
EMPTY_SETTLE_S = 5.0  # an empty file without a close event: give its writer this long to start

AUDIO_EXTS = frozenset({
    ".wav", ".wave", ".flac", ".mp3", ".m4a", ".m4b", ".mp4", ".m4v", ".mov", ".aac", ".ogg", ".oga", ".opus",
    ".webm", ".mkv", ".mka", ".aif", ".aiff", ".aifc", ".caf", ".wma", ".wmv", ".amr", ".3gp", ".3g2", ".avi",
})
_TEMP_SUFFIXES = (".part", ".crdownload", ".tmp", ".partial", ".download")


def ignored_name(name: str) -> bool:
    """Hidden files and the temporary names of copiers/browsers/editors: never touched."""
    low = name.lower()
    return name.startswith(".") or name.startswith("~$") or low.endswith(_TEMP_SUFFIXES)


# ----------------------------------------------------------------------------- the cheap probe

@dataclass(frozen=True)
class Rejection:
    what: str  # "… is not …" — names the file (the user's own report, never a log)
    hint: str
    code: str  # no PHI; stored in the job row
    summary: str = "the file is not usable audio"  # no PHI; stored in the job row after the code


def consent_hold(name: str) -> Rejection:
    """``inbox.consent_covered = false``: the file is held in ``failed/`` (never deleted), not processed."""
    return Rejection(f"{name} was not processed: consent for inbox recordings is not confirmed "
                     "(inbox.consent_covered = false in the settings).",
                     "If your practice's consent paperwork covers session recordings, set "
                     "inbox.consent_covered = true in the settings file (`hushnote config path` shows where it "
                     "is) and put the file into the inbox again. Otherwise record from the tray, which asks "
                     "you to confirm consent each time.", "consent_not_confirmed",
                     "consent for inbox recordings is not confirmed")


def sniff(head: bytes) -> str | None:
    """The container named by the first bytes, or None when nothing audio-like is recognised."""
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"AVI "):
        return "riff"
    if head[:4] in (b"fLaC", b"OggS", b"caff") or head[:3] == b"ID3" or head[:5] == b"#!AMR":
        return "audio"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "isobmff"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "asf"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "mpeg"  # MPEG audio frame / ADTS AAC sync word
    return None


def _wav_data_bytes(head: bytes) -> int | None:
    """Size of the ``data`` chunk if it is within ``head``'s reach, else None."""
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], int(struct.unpack("<I", head[pos + 4:pos + 8])[0])
        if cid == b"data":
            return size
        pos += 8 + size + (size & 1)
    return None


def _encrypted_copy(name: str) -> Rejection:
    return Rejection(f"{name} is audio that hushnote keeps encrypted, not a recording it can take in.",
                     f'Make a playable copy with: hushnote open "FILE" --output "{plain_name(name)}" (FILE: where '
                     "this file is now, in the inbox's failed folder), then put that copy into the inbox.",
                     "encrypted_copy", "the file is hushnote's own encrypted copy")


def check_inbox_file(path: Path) -> Rejection | None:
    """None if ``path`` looks like audio worth queueing; else why not. Cheap: a stat and a 4 KiB read.

    Audio that passes here but cannot be decoded fails later in the pipeline (``InputError``), with an
    error report too."""
    name = path.name
    try:
        st = path.lstat()
    except OSError:
        return Rejection(f"{name} could not be read.", "Check the file and put it into the inbox again.", "unreadable")
    if stat.S_ISLNK(st.st_mode):
        return Rejection(f"{name} is a shortcut (symbolic link), not a recording. hushnote does not follow links "
                         "in the inbox.", "Copy the recording itself into the inbox.", "symlink")
    if stat.S_ISDIR(st.st_mode):
        return Rejection(f"{name} is a folder, not an audio file.",
                         "Put the recordings themselves into the inbox, not a folder.", "directory")
    if not stat.S_ISREG(st.st_mode):
        return Rejection(f"{name} is not a regular file.", "Copy the recording itself into the inbox.", "not_file")
    ext = path.suffix.lower()
    if name.endswith(ENCRYPTED_SUFFIX):
        return _encrypted_copy(name)
    if ext not in AUDIO_EXTS:
        return Rejection(f"{name} is not an audio file (hushnote takes recordings such as wav, m4a, mp3, flac, "
                         "ogg, opus, webm or mp4).",
                         "Put only session recordings into the inbox.", "not_audio")
    if st.st_size == 0:
        return Rejection(f"{name} is empty (0 bytes): there is no recording in it.",
                         "The recording may not have been saved; check the original and copy it again.", "empty")
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except PermissionError:
        return Rejection(f"{name} cannot be read (permission denied).",
                         "Check the file's permissions, or copy it again so that you own the copy.", "unreadable")
    except OSError:
        return Rejection(f"{name} could not be read.", "Check the file and put it into the inbox again.", "unreadable")
    if head.startswith(MAGIC):
        return _encrypted_copy(name)
    kind = sniff(head)
    if kind is None:
        return Rejection(f"{name} is not audio: its contents are not a sound format hushnote knows "
                         "(damaged, or another kind of file renamed).",
                         "Export the recording again from the recorder, as wav, m4a, mp3 or flac.", "not_audio")
    if kind == "riff" and head[8:12] == b"WAVE" and _wav_data_bytes(head) == 0:
        return Rejection(f"{name} is 0 seconds long: it holds no sound.",
                         "The recording may have failed; check the original.", "zero_length")
    return None


# ----------------------------------------------------------------------------- moving files

def move_file(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` (which must not exist) so that a crash leaves a complete file somewhere.

    Same filesystem: ``os.replace``. Across filesystems: copy to a temp name beside ``dst``, fsync, rename
    into place, then unlink ``src`` (a crash in between leaves two complete copies, never none)."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dst.with_name(f".{dst.name}.moving")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if src.is_symlink():
            os.symlink(os.readlink(src), tmp)
        elif src.is_dir():
            shutil.copytree(src, tmp, symlinks=True)
        else:
            with src.open("rb") as fi, tmp.open("xb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
                fo.flush()
                os.fsync(fo.fileno())
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
        crashpoint("move.copied")
        if src.is_dir() and not src.is_symlink():
            shutil.rmtree(src)
        else:
            src.unlink()
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name-2.ext`` … so that nothing existing is ever overwritten (an encrypted
    ``name.wav.hushnote`` becomes ``name-2.wav.hushnote``)."""
    base = plain_name(name)
    p = Path(base)
    stem, ext = (p.stem, p.suffix) if "." in base.lstrip(".") else (base, "")
    ext += name[len(base):]
    candidate, n = folder / name, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = folder / f"{stem}-{n}{ext}"
    return candidate


def write_error_report(notes_dir: Path, job: Job, what: str, hint: str, kept_at: Path | None,
                       when: str | None = None) -> Path:
    """``Notes/<stem>.error.txt``: what is wrong, which file, what to do, where the file is now."""
    lines = [
        "hushnote could not write a note for this file.",
        "",
        f"File:          {job.original_name}",
        f"Job:           {job.id}",
        f"When:          {when or job.updated}",
        f"What is wrong: {what}",
        f"What to do:    {hint}",
    ]
    if kept_at is not None:
        lines.append(f"The file is kept at: {kept_at} (nothing was deleted).")
        if is_encrypted(kept_at):
            lines.append("It is kept encrypted (like all session audio hushnote keeps). For a playable copy: "
                         f'hushnote open "{kept_at}" --output "{plain_name(kept_at.name)}"')
    if not job.rejected:
        lines.append(f"To try again without moving it: hushnote retry {job.id}")
    path = notes_dir / f"{job.stem}{ERROR_SUFFIX}"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------- ingest

def reconcile_ingests(store: Store, vault: Vault | None) -> dict[str, str]:
    """Finish or undo the ingests a crash interrupted (``Store.reconcile_ingesting``): {job id: outcome}.

    An inbox file whose encrypted copy was not finished is still in the inbox and is taken in again under a
    new job, so the key made for the unfinished copy (its id is the old job's) is destroyed. A recording's
    row is only dropped while its file stays in the recordings folder under its own key: that key is kept."""
    kinds = {job.id: job.kind for job in store.ingesting()}
    outcomes = store.reconcile_ingesting()
    for job_id, outcome in outcomes.items():
        log.info("job %s: interrupted ingest %s", job_id, outcome)
        if outcome == "dropped" and vault is not None and kinds.get(job_id) == "inbox":
            with contextlib.suppress(OSError, ValueError):
                vault.keys.destroy(job_id)
    return outcomes


class Ingestor:
    """Takes one inbox file into the store (or rejects it to ``Inbox/failed/``). Call from one thread."""

    def __init__(self, store: Store, inbox: Path, notes: Path,
                 on_queued: Callable[[Job], None] = lambda job: None, consent_covered: bool = True,
                 vault: Vault | None = None, on_ingest: Callable[[Job, dict[str, Any]], None] | None = None,
                 on_rejected: Callable[[Job], None] | None = None) -> None:
        self.store = store
        self.consent_covered = consent_covered  # inbox.consent_covered: False holds every file (consent_hold)
        self.inbox = Path(inbox)
        self.notes = Path(notes)
        self.failed_dir = self.inbox / FAILED_DIR
        self.on_queued = on_queued
        self.vault = vault  # hushnote.daemon.privacy.vault.Vault: encrypt files as they are taken in (storage.encrypt_audio)
        self.on_ingest = on_ingest  # (job, facts without PHI) for the audit log; must not raise
        self.on_rejected = on_rejected  # a file was rejected (a failed job, report written); must not raise

    def recover(self) -> None:
        """At startup, before the first scan: finish or undo what a crash interrupted."""
        self._remove_stale_temps()
        for job_id, outcome in reconcile_ingests(self.store, self.vault).items():
            job = self.store.get(job_id)
            if outcome == "queued" and job is not None:
                self.on_queued(job)
        for job in self.store.unfinished_rejects():
            src, dst = Path(job.source_path or ""), Path(job.store_path)
            if not os.path.lexists(dst) and os.path.lexists(src):
                self.failed_dir.mkdir(parents=True, exist_ok=True)
                move_file(src, dst)
            if not (self.notes / f"{job.stem}{ERROR_SUFFIX}").exists():
                write_error_report(self.notes, job, "the file could not be used (see the hushnote log for the job).",
                                   "Put only session recordings into the inbox.", dst)
            self.store.finish_reject(job.id)
            log.info("job %s: interrupted rejection completed", job.id)

    def ingest(self, path: Path) -> Job | None:
        """Take ``path`` in. Returns the job (queued or rejected), or None if it was left alone."""
        name = path.name
        if path.parent != self.inbox or ignored_name(name):
            return None
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None  # already taken (a duplicate event) or removed by the user
        if stat.S_ISDIR(st.st_mode) and path.suffix.lower() not in AUDIO_EXTS:
            return None  # an ordinary subfolder (e.g. failed/): not ours
        bad = check_inbox_file(path)
        if bad is None and not self.consent_covered:
            bad = consent_hold(name)
        if bad is not None:
            return self._reject(path, bad)
        job = self.store.begin_ingest("inbox", path, name, self.notes)
        crashpoint("ingest.row")
        try:
            facts = self._take(path, Path(job.store_path), job.id)
        except FileNotFoundError:
            self._undo(job.id)
            return None
        except OSError as exc:
            self._undo(job.id)
            if exc.errno == errno.ENOSPC:
                log.error("job %s: the disk is full, so an inbox file could not be taken in; it stays in the "
                          "inbox and is tried again once there is space", job.id)
            else:
                log.warning("an inbox file could not be moved into the store (%s); will try again",
                            type(exc).__name__)
            raise
        crashpoint("ingest.moved")
        self.store.finish_ingest(job.id)
        log.info("job %s: queued from the inbox", job.id)
        got = self.store.get(job.id) or job
        if self.on_ingest is not None:
            self.on_ingest(got, facts)
        self.on_queued(got)
        return got

    def _take(self, path: Path, dst: Path, job_id: str) -> dict[str, Any]:
        """Move the file into the store; with a vault, encrypt it into the store (complete or not at all),
        then remove the plaintext original. At every instant the file is in the inbox or wholly in the
        store (``reconcile_ingesting`` tells the two apart after a crash, by plaintext size)."""
        if self.vault is None:
            size = path.stat().st_size
            move_file(path, dst)
            return {"size_bytes": size, "encrypted": False}
        from hushnote.daemon.privacy.at_rest import encrypt_into

        size, sha = encrypt_into(path, dst, self.vault, job_id)
        crashpoint("ingest.encrypted")
        path.unlink()
        fsync_dir(path.parent)
        return {"size_bytes": size, "encrypted": True, "audio_sha256": sha}

    def _undo(self, job_id: str) -> None:
        """The file was not taken in (it is still in the inbox): forget the row and any unused key."""
        if self.vault is not None:
            with contextlib.suppress(OSError, ValueError):
                self.vault.keys.destroy(job_id)
        try:
            self.store.drop_ingest(job_id)
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: the row is dropped at the next start
            log.error("job %s: the unfinished ingest could not be undone yet (%s)", job_id, type(exc).__name__)

    def _remove_stale_temps(self) -> None:
        """Half-written encrypted copies a crash left in the store (hidden ``.name.*.tmp``): ciphertext, and
        the inbox still has the original."""
        try:
            names = os.listdir(self.store.store_dir)
        except OSError:
            return
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    (self.store.store_dir / name).unlink()

    def _reject(self, path: Path, bad: Rejection) -> Job:
        self.failed_dir.mkdir(parents=True, exist_ok=True)
        dst = unique_path(self.failed_dir, path.name)
        job = self.store.add_rejected(path, path.name, dst, self.notes, f"{bad.code}: {bad.summary}")
        crashpoint("reject.row")
        write_error_report(self.notes, job, bad.what, bad.hint, dst)
        move_file(path, dst)
        self.store.finish_reject(job.id)
        log.warning("job %s: rejected (%s); moved to the inbox's failed folder", job.id, bad.code)
        got = self.store.get(job.id) or job
        if self.on_rejected is not None:
            self.on_rejected(got)
        return got


# ----------------------------------------------------------------------------- watching

@dataclass
class _Candidate:
    last_event: float  # when it was last seen or had an event (the watcher's clock)
    sig: tuple[int, int, int] | None = None
    since: float = 0.0
    writing: bool = False  # modify events seen and no close-after-write yet (Linux only)
    closed: bool = False  # a close-after-write ended the writing
    retry_after: float = 0.0


class _Events:
    """watchdog handler: forwards (kind, path) of top-level inbox entries to a queue. Never blocks."""

    def __init__(self, inbox: Path, out: queue.Queue[tuple[str, Path]]) -> None:
        self.inbox = inbox
        self.out = out

    def dispatch(self, event: Any) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write"):
            return  # includes our own reads
        paths = [event.src_path]
        if kind == "moved":
            paths = [event.dest_path]
            self.out.put(("deleted", Path(os.fsdecode(event.src_path))))
        for p in paths:
            path = Path(os.fsdecode(p))
            if path.parent == self.inbox:
                self.out.put((kind, path))


class InboxWatcher:
    """Context manager: watchdog observer + one thread that checks stability and ingests.

    ``clock`` (monotonic seconds) times the settle and stall periods and the rescans; ``tick()`` is one pass of
    the thread's loop, so a caller with its own clock can drive the watcher without the thread (and without
    watchdog: ``use_watchdog=False``, where files are found by the scans)."""

    def __init__(self, ingestor: Ingestor, *, settle_s: float = 2.0, settle_closed_s: float = 0.5,
                 stall_s: float = 60.0, rescan_s: float = 10.0, poll_s: float = 0.25,
                 use_watchdog: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.ingestor = ingestor
        self.inbox = ingestor.inbox
        self.settle_s = settle_s
        self.settle_closed_s = settle_closed_s
        self.stall_s = stall_s
        self.rescan_s = rescan_s
        self.poll_s = poll_s
        self.use_watchdog = use_watchdog
        self.clock = clock
        self.close_events = False
        self._next_scan = float("-inf")  # the first pass scans the inbox
        self._events: queue.Queue[tuple[str, Path]] = queue.Queue()
        self._pending: dict[Path, _Candidate] = {}
        self._loop = BackgroundThread("hushnote-inbox", self._run, wake=lambda: self._events.put(("stop", self.inbox)),
                                      join_timeout=60)
        self._observer: Any = None
        self.ingested = 0

    def start(self) -> InboxWatcher:
        self.inbox.mkdir(parents=True, exist_ok=True)
        if self.use_watchdog:
            from watchdog.observers import Observer

            obs = Observer()
            obs.schedule(_Events(self.inbox, self._events), str(self.inbox), recursive=False)  # type: ignore[arg-type]
            obs.daemon = True
            obs.start()
            self._observer = obs
            self.close_events = sys.platform.startswith("linux") and type(obs).__name__ == "InotifyObserver"
        self._loop.start()
        return self

    def close(self) -> None:
        self._loop.stop()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None
        self._loop.join(self._loop.join_timeout)

    def __enter__(self) -> InboxWatcher:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -------------------------------------------------------------------- the thread

    def _run(self) -> None:
        try:
            self.ingestor.recover()
        except Exception as exc:  # noqa: BLE001 - keep watching; the scan still takes files in
            log.error("inbox recovery failed (%s)", type(exc).__name__)
        self.tick()  # the startup scan
        stopping = self._loop.stopping
        while not stopping.is_set():
            timeout = self.poll_s if self._pending else max(0.0, self._next_scan - self.clock())
            try:
                kind, path = self._events.get(timeout=timeout)
                self._on_event(kind, path)
            except queue.Empty:
                pass
            if stopping.is_set():
                break
            self.tick()

    def tick(self) -> None:
        """One pass: take the events that arrived, rescan the inbox when due, ingest the files that are stable."""
        with contextlib.suppress(queue.Empty):
            while True:  # drain a burst
                kind, path = self._events.get_nowait()
                self._on_event(kind, path)
        now = self.clock()
        if now >= self._next_scan:
            self._scan()
            self._next_scan = now + self.rescan_s
        self._check(now)

    def _on_event(self, kind: str, path: Path) -> None:
        if kind == "stop" or ignored_name(path.name):
            return
        if kind == "deleted":
            self._pending.pop(path, None)
            return
        c = self._pending.setdefault(path, _Candidate(self.clock()))
        c.last_event = self.clock()
        if kind == "closed":
            c.writing, c.closed = False, True
        elif kind == "modified" and self.close_events and not path.is_dir():
            c.writing, c.closed = True, False  # written to, not yet closed: wait for the close
        elif kind in ("created", "moved"):
            c.writing, c.closed = False, False

    def _scan(self) -> None:
        try:
            entries = list(os.scandir(self.inbox))
        except OSError:
            return
        for e in entries:
            p = Path(e.path)
            if not ignored_name(e.name) and p not in self._pending:
                if e.is_dir(follow_symlinks=False) and p.suffix.lower() not in AUDIO_EXTS:
                    continue
                self._pending[p] = _Candidate(self.clock())

    def _check(self, now: float) -> None:
        for path, c in list(self._pending.items()):
            if now < c.retry_after:
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:
                del self._pending[path]
                continue
            except OSError:
                continue
            sig = (st.st_size, st.st_mtime_ns, st.st_mode)
            if sig != c.sig:
                c.sig, c.since = sig, now
                continue
            quiet = now - c.since
            if c.writing:
                ready = quiet >= self.stall_s and now - c.last_event >= self.stall_s
            elif st.st_size == 0 and stat.S_ISREG(st.st_mode) and not c.closed:
                ready = quiet >= max(self.settle_s, EMPTY_SETTLE_S)  # a copier may not have started writing
            else:
                ready = quiet >= (self.settle_closed_s if c.closed else self.settle_s)
            if not ready:
                continue
            try:
                job = self.ingestor.ingest(path)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the inbox
                log.error("an inbox file could not be taken in (%s); will try again in a minute", type(exc).__name__)
                c.retry_after = now + 60.0
                continue
            del self._pending[path]
            if job is not None:
                self.ingested += 1

    def idle(self) -> bool:
        """No file waiting to become stable (for tests and benchmarks)."""
        return not self._pending and self._events.empty()

