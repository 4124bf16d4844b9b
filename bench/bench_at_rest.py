"""Encryption at rest on a real recording: what encrypting at ingest and decrypting in memory cost.

Builds an N-minute FLAC of real speech (the eval clips, repeated), then measures, best of --repeat:
* ingest: the plain move into the store (``os.replace``) vs encrypting into the store (``encrypt_into``:
  read, sha256, encrypt, fsync, rename) and removing the original;
* decode: ``audio.iter_pcm`` over the plain file vs over the encrypted file through ``vault.open``
  (which authenticates the whole file once per open, and decrypts chunk by chunk while PyAV reads);
* peak extra memory of the in-memory decryption (tracemalloc over the decode; PyAV's own buffers are C).

Run: /opt/hn-venv/bin/python bench/bench_at_rest.py [--minutes 25] [--repeat 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hushnote.daemon.privacy import at_rest
from hushnote.daemon.privacy.vault import Vault
from hushnote.daemon.speech import audio

EVAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "eval" / "speech"
CLIPS = ["faster_whisper_tests/jfk.flac", "ljspeech/LJ001-0001.flac", "librispeech_testclean/1089-134686-0001.flac"]


def build(path: Path, minutes: float) -> float:
    import av

    pcm = np.concatenate([audio.decode_all(EVAL / c) for c in CLIPS])
    reps = int(minutes * 60 * audio.SAMPLE_RATE / pcm.shape[0]) + 1
    total = 0
    with av.open(str(path), mode="w", format="flac") as out:
        st = out.add_stream("flac", rate=audio.SAMPLE_RATE, layout="mono")
        st.format = "s16"
        for _ in range(reps):
            frame = av.AudioFrame.from_ndarray((pcm * 32767).astype("<i2").reshape(1, -1), format="s16",
                                               layout="mono")
            frame.sample_rate = audio.SAMPLE_RATE
            frame.pts = total
            total += pcm.shape[0]
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return total / audio.SAMPLE_RATE


def best(fn: Callable[[], None], repeat: int) -> float:
    out = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir, prefix="hn-bench-") as td:
        d = Path(td)
        src = d / "session.flac"
        seconds = build(src, a.minutes)
        mb = src.stat().st_size / 1e6
        v = Vault(d / "data", os.urandom(32))
        store = d / "data" / "store"
        store.mkdir(parents=True)
        n = [0]

        def ingest_plain() -> None:
            tmp = d / "inbox.flac"
            shutil.copy(src, tmp)
            t = time.perf_counter()
            os.replace(tmp, store / "plain.flac")
            ingest_plain.t = time.perf_counter() - t  # type: ignore[attr-defined]

        def ingest_encrypted() -> None:
            n[0] += 1
            dst = store / f"job{n[0]}.flac"
            at_rest.encrypt_into(src, dst, v, f"job{n[0]}")

        enc_t = best(ingest_encrypted, a.repeat)
        ingest_plain()
        enc = store / "job1.flac"
        opener = at_rest.decrypting_opener(v)

        def decode(op: audio.Opener | None, path: Path) -> Callable[[], None]:
            def run() -> None:
                for _ in audio.iter_pcm(path, opener=op):
                    pass
            return run

        plain_t = best(decode(None, src), a.repeat)
        dec_t = best(decode(opener, enc), a.repeat)
        auth_t = best(lambda: opener(enc).close(), a.repeat)
        tracemalloc.start()
        decode(opener, enc)()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"recording: {seconds / 60:.1f} min of real speech as FLAC, {mb:.1f} MB; {os.cpu_count()} cores")
        print(f"ingest, plain move (os.replace):        {ingest_plain.t * 1000:8.1f} ms")  # type: ignore[attr-defined]
        print(f"ingest, encrypt into store (+sha256):   {enc_t * 1000:8.1f} ms  ({mb / enc_t:.0f} MB/s)")
        print(f"decode to 16 kHz PCM, plain file:       {plain_t:8.2f} s")
        print(f"decode to 16 kHz PCM, encrypted file:   {dec_t:8.2f} s  (+{(dec_t / plain_t - 1) * 100:.1f} %)")
        print(f"one vault.open (authenticate + index):  {auth_t * 1000:8.1f} ms (two opens per job: probe, decode)")
        print(f"peak Python memory during the decrypting decode: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
