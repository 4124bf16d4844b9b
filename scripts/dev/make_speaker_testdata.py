"""Dev-only: (re)make tests/data/speakers/ from the LibriSpeech readers in ../shared/eval/speakers.

Per reader: ``<id>-session.flac`` (utterances the built sessions are cut from) and ``<id>-enrol.flac``
(other utterances, for enrolment), each the utterances joined with 0.3 s of silence, 16 kHz mono FLAC.
Also ``fbank_reference.npy``: kaldi-native-fbank's 80-bin fbank of the first second of 367-enrol.flac,
the reference tests/test_speakers_fbank.py checks hushnote.daemon.speakers.fbank against (needs
``pip install kaldi-native-fbank``; skipped if it is not installed).

Run from the repository root: .venv/bin/python scripts/dev/make_speaker_testdata.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
# ../shared/eval beside the clone (or beside a parent, for git worktrees); HUSHNOTE_EVAL_DIR overrides
EVAL = Path(
    os.environ.get("HUSHNOTE_EVAL_DIR")
    or next((p / "shared" / "eval" for p in REPO.parents if (p / "shared" / "eval").is_dir()), REPO.parent)
)
SOURCE = EVAL / "speakers"
OUT = REPO / "tests" / "data" / "speakers"
sys.path.insert(0, str(REPO))

# reader -> (session utterances, enrolment utterances), LibriSpeech test-other utterance numbers
CHOICE = {
    "367": ("367-130732", (1, 2, 4, 7), (3,)),
    "533": ("533-1066", (1, 2, 3, 6, 9), (4, 8)),
    "2033": ("2033-164914", (0, 1, 2, 3), (5, 7, 9)),
    "2414": ("2414-128291", (1, 4, 5, 6), (0, 7, 8, 9)),
}


def _joined(reader: str, prefix: str, numbers: tuple[int, ...]) -> np.ndarray:
    from hushnote.daemon.speech.audio import decode_all

    gap = np.zeros(int(0.3 * 16000), dtype=np.float32)
    parts: list[np.ndarray] = []
    for n in numbers:
        parts += [decode_all(SOURCE / reader / f"{prefix}-{n:04d}.flac"), gap]
    return np.concatenate(parts[:-1])


def _fbank_reference(audio: np.ndarray) -> np.ndarray:
    import kaldi_native_fbank as knf  # dev-only reference implementation

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = 16000
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = 80
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, audio.tolist())
    fb.input_finished()
    return np.array([fb.get_frame(i) for i in range(fb.num_frames_ready)], dtype=np.float32)


def main() -> int:
    from tests.support.speech import write_flac

    OUT.mkdir(parents=True, exist_ok=True)
    for reader, (prefix, session, enrol) in CHOICE.items():
        write_flac(OUT / f"{reader}-session.flac", _joined(reader, prefix, session))
        write_flac(OUT / f"{reader}-enrol.flac", _joined(reader, prefix, enrol))
    try:
        from hushnote.daemon.speech.audio import decode_all

        first = decode_all(OUT / "367-enrol.flac")[:16000]
        np.save(OUT / "fbank_reference.npy", _fbank_reference(first))
    except ImportError:
        print("kaldi-native-fbank is not installed: fbank_reference.npy left as it is")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
