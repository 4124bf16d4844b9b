"""Recording from the microphone in the daemon: chunks on disk as they are captured, a level meter,
device-loss handling, the hand-off of the finished file, and windows for transcription while recording.

Threads of one recording (all joined; each ends on a sentinel or an event):

* the *session* thread opens the device (and, with ``system_audio``, the computer's audio output as a second
  channel: ``hushnote.daemon.recording.system_audio``, aligned by ``hushnote.daemon.recording.align``), polls it without ever blocking indefinitely (so a dead or
  hung sound server is noticed within ``stall_s``), resamples to 16 kHz mono when needed, publishes
  ``record.level`` / ``record.warning`` events, and hands blocks to the writer; when capture ends
  (Stop, device lost, error) it finalises: last chunk, FLAC assembly, ``on_finished``, ``record.stopped``;
* the *writer* thread appends blocks to the current chunk's ``.part`` file and writes each complete
  chunk durably (fsync) — the capture thread never waits on the disk;
* the optional *window* thread (live transcription) reads completed chunks back from disk, cuts windows
  at pauses (``cuts.pick_cut``: the pipeline's Silero VAD), and calls the consumer (``live.LiveTranscriber``).
  It may fall behind: its backlog is the chunk files already on disk, so memory stays bounded and nothing is
  dropped; it catches up after Stop.
  A stereo recording (microphone left, computer audio right) is transcribed as the mix of both channels.

Nothing here logs anything but recording ids, device names and durations.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from hushnote.daemon.core.config import Config
from hushnote.daemon.core.datatypes import utc_now
from hushnote.daemon.core.errors import HushnoteError
from hushnote.daemon.core.threads import BackgroundThread
from hushnote.daemon.recording.align import ChannelAligner
from hushnote.daemon.recording.chunks import RecordingStore, hand_off_and_clean, recordings_dir
from hushnote.daemon.recording.chunks import recover as _recover
from hushnote.daemon.recording.cuts import pick_cut
from hushnote.daemon.recording.devices import (
    SAMPLE_RATE,
    DeviceInfo,
    RecorderError,
    StreamResampler,
    _pa_lock,
    _pyaudio,
    level_db,
    list_devices,
    open_input,
    to_int16,
)
from hushnote.daemon.recording.system_audio import SystemAudioSource, open_source

if TYPE_CHECKING:
    from hushnote.daemon.privacy.vault import Vault

__all__ = ["Recorder", "RecorderError", "StopResult", "DeviceInfo", "list_devices", "recover"]

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], None]
FinishedSink = Callable[[Path, str], None]
ConsentHook = Callable[[str, bool], None]  # (rec_id, consent_confirmed): the audit log's consent entry

LEVEL_INTERVAL_S = 0.5
SILENCE_DB = -65.0  # below this a 0.5 s block counts as "no signal"


def recover(data_dir: Path, hand_off: Callable[[Path, str], None] | None = None) -> list[Path]:
    """Assemble recordings a crash left unfinished; see ``hushnote.daemon.recording.chunks.recover``."""
    return _recover(data_dir, hand_off)


@dataclass
class StopResult:
    id: str
    reason: str  # "user" | "device_lost" | "error" | "shutdown"
    path: Path | None  # the assembled recording (None only if nothing could be saved)
    seconds: float
    message: str = ""

    def as_event(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "path": str(self.path) if self.path else None,
                "seconds": round(self.seconds, 2), "message": self.message}


class _DeviceLost(Exception):
    pass


@dataclass
class _Meter:
    """The microphone's level meter between two ``record.level`` events."""

    blocks: list[np.ndarray] = field(default_factory=list)
    n: int = 0
    silent_s: float = 0.0
    warned: bool = False


@dataclass
class _Session:
    rec_id: str
    store: RecordingStore
    consumer: Any = None
    device: DeviceInfo | None = None
    channels: int = 1  # 2: microphone left, the computer's audio right
    system: SystemAudioSource | None = None
    aligner: ChannelAligner | None = None
    system_warned: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    abort_windows: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    message: str = ""
    start_error: BaseException | None = None
    samples: int = 0
    level_db: float = -120.0
    result: StopResult | None = None
    # chunk bookkeeping shared by the writer and window threads
    cond: threading.Condition = field(default_factory=threading.Condition)
    chunks_done: int = 0
    writer_finished: bool = False
    users: int = 1  # holders of the store (the session thread, plus the window thread if any)
    handed_off: bool = False
    threads: list[BackgroundThread] = field(default_factory=list)


class Recorder:
    """The daemon's microphone. Thread-safe; one recording at a time.

    ``on_event(event, data)``: ``record.started``, ``record.level`` (~every 0.5 s), ``record.warning``,
    ``record.stopped``. ``on_finished(path, rec_id)``: the assembled recording, to be queued. If it raises,
    the recording stays on disk as "assembled" and ``recover()`` hands it over at the next start.
    """

    def __init__(self, cfg: Config, *, on_event: EventSink | None = None, on_finished: FinishedSink | None = None,
                 consent_hook: ConsentHook | None = None, data_dir: Path | None = None,
                 capture_rate: int | None = None, stall_s: float = 5.0, start_timeout_s: float = 10.0,
                 vault: Vault | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock  # arrival times of audio blocks (the two channels are aligned on them)
        self.vault = vault  # hushnote.daemon.privacy.vault.Vault: chunks encrypted as they are written (storage.encrypt_audio)
        self.on_event = on_event
        self.on_finished = on_finished
        self.consent_hook = consent_hook
        self.root = recordings_dir(data_dir if data_dir is not None else cfg.path("paths.data"))
        self.capture_rate = capture_rate  # force the device rate (tests of the resampling path)
        self.stall_s = stall_s
        self.start_timeout_s = start_timeout_s
        self.chunk_s = float(cfg["recording.chunk_s"])
        self.no_signal_s = float(cfg["recording.no_signal_warning_s"])
        self.window_s = float(cfg["recording.live_window_s"])
        self.system_audio = bool(cfg["recording.system_audio"])
        self._lock = threading.Lock()
        self._state = "idle"  # idle | starting | recording | finalising
        self._session: _Session | None = None
        self._window_threads: list[tuple[BackgroundThread, _Session]] = []

    # ------------------------------------------------------------------ public API

    def start(self, consent_confirmed: bool = False, *, window_consumer: Any = None) -> dict[str, Any]:
        """Open the microphone and start recording. Returns ``status()`` once audio is arriving."""
        with self._lock:
            if self._state in ("starting", "recording"):
                sid = self._session.rec_id if self._session else ""
                raise RecorderError(f"A recording is already running ({sid}).",
                                    "Stop it before starting another one.")
            if self._state == "finalising":
                raise RecorderError("The previous recording is still being saved.",
                                    "Try again in a moment.")
            if bool(self.cfg["recording.require_consent"]) and not consent_confirmed:
                raise RecorderError("Recording needs the client's consent, and it was not confirmed.",
                                    "Confirm that the client agreed to be recorded, then start again.")
            self._state = "starting"
        try:
            self._reap_window_threads()
            rec_id = f"rec-{utc_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
            if self.consent_hook is not None:
                try:
                    self.consent_hook(rec_id, consent_confirmed)
                except HushnoteError:
                    raise
                except Exception as exc:  # noqa: BLE001 - no recording without its consent record
                    raise RecorderError(f"Recording did not start: the consent could not be recorded "
                                        f"({exc.__class__.__name__}).", "Try again; if it keeps failing, "
                                        "check the service's log.") from None
            store = RecordingStore.create(self.root, rec_id, {
                "created_utc": utc_now().isoformat(timespec="seconds"),
                "chunk_samples": self._chunk_samples(), "consent_confirmed": bool(consent_confirmed)},
                vault=self.vault, channels=2 if self.system_audio else 1)
            s = _Session(rec_id, store, consumer=window_consumer, channels=store.channels)
            with self._lock:
                self._session = s
            t = BackgroundThread(f"recorder-{rec_id}", functools.partial(self._run_session, s), stopping=s.stop,
                                 daemon=False)
            s.threads.append(t)
            t.start()
            if not s.ready.wait(self.start_timeout_s + 5.0):  # the session thread times out first
                s.stop.set()
            if s.start_error is not None or not s.ready.is_set():
                t.join()
                err = s.start_error
                if isinstance(err, RecorderError):
                    raise err
                raise RecorderError("Recording could not start: the microphone did not respond.",
                                    "Check the microphone (hushnote devices) and try again.")
            if window_consumer is not None:
                with s.cond:
                    s.users += 1
                w = BackgroundThread(f"recorder-windows-{rec_id}", functools.partial(self._window_loop, s),
                                     daemon=False)
                self._window_threads.append((w, s))
                w.start()
            with self._lock:
                if self._state == "starting":
                    self._state = "recording"
        except BaseException:
            with self._lock:
                self._state = "idle"
            raise
        self._emit("record.started", {"id": rec_id, "device": s.device.name if s.device else "",
                                       "system_audio": s.system.name if s.system else None})
        return self.status()

    def stop(self, *, wait: bool = True, timeout: float | None = None) -> StopResult | None:
        """Stop recording and save it. With ``wait`` returns the result once saved (else ``None`` at once;
        the ``record.stopped`` event follows)."""
        with self._lock:
            if self._state == "idle" or self._session is None:
                raise RecorderError("No recording is running, so there is nothing to stop.")
            if self._state == "starting":
                raise RecorderError("The recording is still starting.", "Try again in a moment.")
            s = self._session
            if self._state == "finalising":
                if not wait:
                    raise RecorderError("The recording is already stopping; it is being saved.")
            else:
                self._state = "finalising"
                s.reason = s.reason or "user"
                s.stop.set()
        if not wait:
            return None
        if not s.done.wait(timeout):
            raise RecorderError("The recording is taking long to save.", "It will finish in the background.")
        return s.result

    def status(self) -> dict[str, Any]:
        with self._lock:
            s, state = self._session, self._state
        active = s is not None and state in ("recording", "finalising")
        return {"recording": state == "recording", "state": state,
                "id": s.rec_id if active and s else None,
                "elapsed_s": round(s.samples / SAMPLE_RATE, 1) if active and s else 0.0,
                "level_db": s.level_db if active and s else None,
                "device": s.device.name if active and s and s.device else None}

    def recover(self) -> list[Path]:
        """``recover()`` for this recorder's folder, handing each file to ``on_finished``."""
        return _recover(self.root.parent, self.on_finished, vault=self.vault)

    def close(self, *, wait_live: bool = False) -> None:
        """Stop any recording (reason "shutdown"), then end the live-transcription threads.

        ``wait_live=False`` interrupts a live transcription that is still catching up (its consumer is told
        the windows are incomplete); the recording itself was already saved and handed over.
        """
        with self._lock:
            s = self._session
            if s is not None and self._state == "recording":
                self._state = "finalising"
                s.reason = s.reason or "shutdown"
                s.stop.set()
        if s is not None:
            s.done.wait()
            for t in s.threads:
                t.join()
        if not wait_live:
            for _, ws in self._window_threads:
                ws.abort_windows.set()
                with ws.cond:
                    ws.cond.notify_all()
        self._reap_window_threads(join=True)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _chunk_samples(self) -> int:
        return max(SAMPLE_RATE // 2, int(self.chunk_s * SAMPLE_RATE))

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event, data)
        except Exception as exc:  # noqa: BLE001 - a listener's bug must not stop the recording
            log.warning("recorder event listener failed (%s)", exc.__class__.__name__)

    def _reap_window_threads(self, join: bool = False) -> None:
        alive = []
        for t, ws in self._window_threads:
            if join or not t.alive:
                t.join()
            else:
                alive.append((t, ws))
        self._window_threads = alive

    # ------------------------------------------------------------------ the session thread

    def _run_session(self, s: _Session) -> None:
        writer_q: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        writer = BackgroundThread(f"recorder-writer-{s.rec_id}", functools.partial(self._write_loop, s, writer_q),
                                  daemon=False).start()
        s.threads.append(writer)
        try:
            self._capture(s, writer_q)
        except RecorderError as exc:
            if not s.ready.is_set():
                s.start_error = exc
            else:  # pragma: no cover - _capture turns errors after the start into reasons
                s.reason, s.message = "error", str(exc)
        except Exception as exc:  # noqa: BLE001 - whatever happens, what was captured is saved below
            log.error("recording %s: capture failed (%s)", s.rec_id, exc.__class__.__name__)
            if not s.ready.is_set():
                s.start_error = RecorderError(f"Recording could not start ({exc.__class__.__name__}).",
                                              "Check the microphone (hushnote devices) and try again.")
            s.reason = s.reason or "error"
            s.message = s.message or "Recording stopped because of an unexpected problem. What was recorded is saved."
        finally:
            if s.system is not None:
                s.system.close()  # idempotent: closed already unless the start failed
            writer_q.put(None)
            writer.join()
        if not s.ready.is_set():  # the start failed: nothing was recorded
            s.ready.set()
            s.store.discard()
            s.done.set()
            return
        with self._lock:
            self._state = "finalising"
        try:
            s.result = self._finalise(s)
        finally:
            with self._lock:
                if self._session is s:
                    self._state = "idle"
            try:
                self._emit("record.stopped", s.result.as_event() if s.result else {"id": s.rec_id, "reason": "error"})
            finally:
                s.done.set()

    def _open_stream(self, s: _Session, pa: Any) -> tuple[Any, int, int]:
        stream, s.device, rate, channels = open_input(pa, self.cfg["recording.device"],
                                                      rate=int(self.capture_rate or 0))
        return stream, rate, channels

    def _capture(self, s: _Session, writer_q: queue.SimpleQueue[np.ndarray | None]) -> None:
        pyaudio = _pyaudio()
        if self.system_audio:  # first: the computer's audio is already flowing when the microphone opens
            s.system = open_source(str(self.cfg["recording.system_audio_device"]), self.clock)
            s.system.start()
            s.aligner = ChannelAligner()
            s.store.update_meta(system_audio=s.system.name)
        if not _pa_lock.acquire(timeout=10):
            raise RecorderError("The sound system is not responding.", "Restart the computer's sound system or "
                                "the hushnote service, then try again.")
        try:
            pa = pyaudio.PyAudio()
        finally:
            _pa_lock.release()
        stream = None
        hung = False
        try:
            stream, rate, channels = self._open_stream(s, pa)
            resampler = StreamResampler(rate, SAMPLE_RATE) if rate != SAMPLE_RATE else None
            max_frames = rate // 2
            meter = _Meter()
            last_data = time.monotonic()
            opened = last_data
            while True:
                stopping = s.stop.is_set()
                try:
                    avail = stream.get_read_available()
                    if avail < 0:
                        raise _DeviceLost
                    if avail == 0 and not stopping:
                        waited = time.monotonic() - (last_data if s.ready.is_set() else opened)
                        limit = self.stall_s if s.ready.is_set() else self.start_timeout_s
                        if waited > limit:
                            hung = True
                            raise _DeviceLost
                        s.stop.wait(0.01)
                        continue
                    data = stream.read(min(avail, max_frames), exception_on_overflow=False) if avail else b""
                    arrived = self.clock()
                except (_DeviceLost, OSError, ValueError):
                    if not s.ready.is_set():
                        name = s.device.name if s.device else "the microphone"
                        raise RecorderError(f'The microphone "{name}" is not sending any sound.',
                                            "Check that it is connected and working (hushnote devices), "
                                            "then try again.") from None
                    s.reason = "device_lost"
                    s.message = ("Recording stopped: the microphone stopped working (unplugged, or the sound "
                                 "system stopped). What was recorded until then is saved.")
                    log.warning("recording %s: input device lost", s.rec_id)
                    break
                block = np.frombuffer(data, dtype="<i2")
                if channels > 1:
                    block = block.reshape(-1, channels).mean(axis=1).astype(np.int16)
                if resampler is not None:
                    out = resampler.process(block.astype(np.float32))
                    if stopping:
                        out = np.concatenate([out, resampler.flush()])
                    block = to_int16(out)
                if block.shape[0]:
                    last_data = time.monotonic()
                    s.ready.set()
                    self._write(s, writer_q, block, arrived)
                    self._measure(s, meter, block)
                if stopping:
                    break
        finally:
            self._end_system_audio(s, writer_q)
            self._close_audio(stream, pa, hung)

    def _write(self, s: _Session, writer_q: queue.SimpleQueue[np.ndarray | None], mic: np.ndarray,
               arrived: float) -> None:
        """Hand the microphone's block to the writer: as it is, or paired with the computer's audio."""
        if s.aligner is None or s.system is None:
            writer_q.put(mic)
            s.samples += mic.shape[0]
            return
        s.aligner.add_mic(mic, arrived)
        self._feed_system(s.system, s.aligner)
        frames = s.aligner.take()
        if frames.shape[0]:
            writer_q.put(frames)
            s.samples += frames.shape[0]
        if not s.system.alive() and not s.system_warned:
            s.system_warned = True
            log.warning("recording %s: the computer's audio stopped", s.rec_id)
            self._emit("record.warning", {
                "id": s.rec_id, "code": "system_audio_lost",
                "message": "The computer's audio (the call) is no longer being recorded: its output device went "
                           "away. The microphone is still recording."})

    @staticmethod
    def _feed_system(system: SystemAudioSource, aligner: ChannelAligner) -> None:
        for when, block in system.read():
            aligner.add_system(block, when)

    def _end_system_audio(self, s: _Session, writer_q: queue.SimpleQueue[np.ndarray | None]) -> None:
        """Write what the aligner still holds (the computer's audio padded to the microphone's length)."""
        if s.system is None:
            return
        try:
            if s.aligner is not None and s.ready.is_set():
                self._feed_system(s.system, s.aligner)
                rest = s.aligner.finish()
                if rest.shape[0]:
                    writer_q.put(rest)
                    s.samples += rest.shape[0]
                log.info("recording %s: computer audio aligned (start offset %s, padded %d, dropped %d samples)",
                         s.rec_id, s.aligner.offset, s.aligner.padded, s.aligner.dropped)
        finally:
            s.system.close()

    def _measure(self, s: _Session, m: _Meter, block: np.ndarray) -> None:
        """The microphone's level every ``LEVEL_INTERVAL_S``, and the no-signal warning."""
        m.blocks.append(block)
        m.n += block.shape[0]
        if m.n < int(LEVEL_INTERVAL_S * SAMPLE_RATE):
            return
        s.level_db = level_db(np.concatenate(m.blocks))
        m.blocks, m.n = [], 0
        self._emit("record.level", {"id": s.rec_id, "elapsed_s": round(s.samples / SAMPLE_RATE, 2),
                                    "level_db": s.level_db})
        if s.level_db >= SILENCE_DB:
            m.silent_s, m.warned = 0.0, False
            return
        m.silent_s += LEVEL_INTERVAL_S
        if m.silent_s >= self.no_signal_s and not m.warned:
            m.warned = True
            self._emit("record.warning", {
                "id": s.rec_id, "code": "no_signal",
                "message": f"No sound has reached the microphone for {int(m.silent_s)} seconds. "
                           "Check that it is connected, switched on and not muted. "
                           "Recording continues."})

    def _close_audio(self, stream: Any, pa: Any, hung: bool) -> None:
        def close() -> None:
            with _pa_lock:
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()
                with contextlib.suppress(Exception):
                    pa.terminate()

        if not hung:
            close()
            return
        # A hung sound server can block close() forever: do it aside and go on saving the recording.
        if not BackgroundThread("recorder-close", close).start().join(2.0):
            log.warning("the sound system did not release the microphone; continuing without waiting")

    # ------------------------------------------------------------------ the writer thread

    def _write_loop(self, s: _Session, q: queue.SimpleQueue[np.ndarray | None]) -> None:
        chunk_bytes = self._chunk_samples() * 2 * s.channels
        buf = bytearray()
        index = 1
        failed = False
        while True:
            block = q.get()
            if block is None:
                break
            if failed:
                continue
            data = block.astype("<i2").tobytes()
            try:
                room = chunk_bytes - len(buf)
                buf += data
                s.store.append_part(index, data[:room])
                while len(buf) >= chunk_bytes:
                    s.store.write_chunk(index, bytes(buf[:chunk_bytes]))
                    del buf[:chunk_bytes]
                    with s.cond:
                        s.chunks_done = index
                        s.cond.notify_all()
                    index += 1
                    if buf:
                        s.store.append_part(index, bytes(buf[: min(len(buf), chunk_bytes)]))
            except OSError as exc:
                failed = True
                self._write_failed(s, exc)
        try:
            if buf and not failed:
                s.store.write_chunk(index, bytes(buf))
                with s.cond:
                    s.chunks_done = index
        except OSError as exc:
            self._write_failed(s, exc)
        finally:
            s.store.close_part()
            with s.cond:
                s.writer_finished = True
                s.cond.notify_all()

    def _write_failed(self, s: _Session, exc: OSError) -> None:
        log.error("recording %s: audio could not be written (%s)", s.rec_id, exc.__class__.__name__)
        s.reason = "error"
        s.message = ("Recording stopped: the audio could not be saved to disk "
                     f"({exc.strerror or exc.__class__.__name__}; is the disk full?). What was saved before is kept.")
        s.stop.set()

    # ------------------------------------------------------------------ finalising

    def _finalise(self, s: _Session) -> StopResult:
        reason = s.reason or "user"
        seconds = s.samples / SAMPLE_RATE
        message = s.message or ("Recording saved." if reason in ("user", "shutdown") else "")
        path: Path | None = None
        try:
            path, seconds = s.store.assemble()
            s.store.update_meta(state="assembled", reason=reason, seconds=round(seconds, 3),
                                stopped_utc=utc_now().isoformat(timespec="seconds"))
            log.info("recording %s saved (%.1f s, %s)", s.rec_id, seconds, reason)
            try:
                hand_off_and_clean(s.store, self.on_finished)
                s.handed_off = True
            except Exception as exc:  # noqa: BLE001 - the file is safe on disk; recovery hands it over later
                log.error("recording %s: hand-off failed (%s); it will be queued at the next start",
                          s.rec_id, exc.__class__.__name__)
                message = (message + " It could not be queued for processing yet; that will happen when "
                           "the service restarts.").strip()
        except Exception as exc:  # noqa: BLE001 - the chunks stay on disk and are recovered at the next start
            log.error("recording %s: could not be assembled (%s)", s.rec_id, exc.__class__.__name__)
            reason = "error" if reason == "user" else reason
            message = ("The recording could not be put together into one file; its pieces are kept and will be "
                       "recovered when the service restarts.")
        finally:
            self._release_store(s)
        return StopResult(s.rec_id, reason, path, seconds, message)

    def _release_store(self, s: _Session) -> None:
        with s.cond:
            s.users -= 1
            last = s.users == 0
        if last:
            if s.handed_off:
                s.store.discard()
            else:
                s.store.release()

    # ------------------------------------------------------------------ the window thread (live transcription)

    def _window_loop(self, s: _Session) -> None:
        chunk_n = self._chunk_samples()
        hi = int(self.window_s * SAMPLE_RATE)
        lo = int(0.6 * hi)
        buf = np.zeros(0, dtype=np.int16)
        offset = 0
        nxt = 1
        complete = False
        consumer = s.consumer
        on_window = consumer.on_window if hasattr(consumer, "on_window") else consumer
        finder = getattr(consumer, "speech_chunks", None)  # the consumer's VAD (e.g. in a model process)
        try:
            while True:
                with s.cond:
                    while not (s.chunks_done >= nxt or s.writer_finished or s.abort_windows.is_set()):
                        s.cond.wait()
                    have, finished = s.chunks_done, s.writer_finished
                if s.abort_windows.is_set():
                    break
                if have < nxt:
                    complete = finished
                    break
                try:
                    data = _mix(np.frombuffer(s.store.read_chunk(nxt), dtype="<i2"), s.channels)
                except OSError:
                    data = np.zeros(chunk_n, dtype=np.int16)  # keep the timing of what follows
                nxt += 1
                buf = np.concatenate([buf, data])
                while buf.shape[0] >= hi and not s.abort_windows.is_set():
                    cut = pick_cut(buf[:hi], lo, hi, finder)
                    self._deliver(on_window, buf[:cut], offset, s)
                    buf, offset = buf[cut:], offset + cut
            if complete and buf.shape[0]:
                self._deliver(on_window, buf, offset, s)
                offset += buf.shape[0]
        finally:
            end = getattr(consumer, "on_end", None)
            if end is not None:
                try:
                    end(offset / SAMPLE_RATE, complete)
                except Exception as exc:  # noqa: BLE001 - a consumer's bug must not leak the store
                    log.warning("live transcription end failed (%s)", exc.__class__.__name__)
            self._release_store(s)

    @staticmethod
    def _deliver(on_window: Callable[[np.ndarray, float], None], pcm: np.ndarray, offset: int, s: _Session) -> None:
        try:
            on_window(pcm.astype(np.float32) / 32768.0, offset / SAMPLE_RATE)
        except Exception as exc:  # noqa: BLE001 - one failed window must not stop the others
            log.warning("recording %s: live window at %.0f s failed (%s)", s.rec_id, offset / SAMPLE_RATE,
                        exc.__class__.__name__)


def _mix(pcm: np.ndarray, channels: int) -> np.ndarray:
    """Interleaved int16 samples as mono: the mean of the channels (the microphone and the call, together)."""
    if channels == 1:
        return pcm
    frames = pcm[: pcm.shape[0] - pcm.shape[0] % channels].reshape(-1, channels)
    return np.asarray(np.round(frames.mean(axis=1)), dtype=np.int16)
