"""Vault throughput: encrypt and decrypt a 200 MB file in 1 MiB chunks, against a plain file copy.

Run: /opt/hn-venv/bin/python bench/bench_vault.py [--mb 200] [--chunk-kib 1024] [--dir /tmp] [--repeat 3]
Each figure is the best of --repeat runs; every write is fsynced, as in the daemon. Page cache is warm
(the source file was just written), so these are CPU/crypto numbers rather than disk numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hushnote.daemon.privacy.vault import DecryptedFile, EncryptedWriter, open_decrypted


def _best(fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--chunk-kib", type=int, default=1024)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    chunk = a.chunk_kib * 1024
    key = os.urandom(32)
    with tempfile.TemporaryDirectory(dir=a.dir, prefix="hn-bench-") as td:
        d = Path(td)
        src, enc, cpy = d / "src.bin", d / "src.hnv", d / "copy.bin"
        block = os.urandom(1 << 20)
        with open(src, "wb") as fh:
            for _ in range(a.mb):
                fh.write(block)
        size = src.stat().st_size
        mb = size / 1e6

        def copy() -> None:
            with open(src, "rb") as fin, open(cpy, "wb") as fout:
                shutil.copyfileobj(fin, fout, chunk)
                fout.flush()
                os.fsync(fout.fileno())
            cpy.unlink()

        def read_plain() -> None:
            with open(src, "rb") as fh:
                while fh.read(chunk):
                    pass

        def encrypt() -> None:
            if enc.exists():
                enc.unlink()
            with open(src, "rb") as fin, EncryptedWriter(enc, key, file_id="bench", chunk_size=chunk) as w:
                while b := fin.read(chunk):
                    w.write(b)

        def decrypt() -> None:
            n = 0
            for c in open_decrypted(enc, key):
                n += len(c)
            assert n == size

        def decrypt_filelike() -> None:
            with DecryptedFile(enc, key) as f:
                while f.read(chunk):
                    pass

        t_copy = _best(copy, a.repeat)
        t_read = _best(read_plain, a.repeat)
        t_enc = _best(encrypt, a.repeat)
        t_dec = _best(decrypt, a.repeat)
        t_fl = _best(decrypt_filelike, a.repeat)
        overhead = enc.stat().st_size - size
        print(f"file: {mb:.0f} MB, chunk {a.chunk_kib} KiB, best of {a.repeat}, cpu count {os.cpu_count()}")
        print(f"plain copy (read+write+fsync): {t_copy:6.3f} s  {mb / t_copy:7.0f} MB/s")
        print(f"plain read:                    {t_read:6.3f} s  {mb / t_read:7.0f} MB/s")
        print(f"encrypt (read+enc+write+fsync):{t_enc:6.3f} s  {mb / t_enc:7.0f} MB/s  "
              f"({t_enc / t_copy:.2f}x the copy)")
        print(f"decrypt (iterator):            {t_dec:6.3f} s  {mb / t_dec:7.0f} MB/s  "
              f"({t_dec / t_read:.2f}x the plain read)")
        print(f"decrypt (DecryptedFile, verifies on open then reads): {t_fl:6.3f} s  {mb / t_fl:7.0f} MB/s")
        print(f"size overhead: {overhead} bytes ({overhead / size * 100:.4f} %)")


if __name__ == "__main__":
    main()
