"""Who said it: offline speaker labels for transcript words.

No torch, no network: the CAM++ speaker-embedding network (3D-Speaker, Apache-2.0; see data/NOTICE) runs
on onnxruntime from the file shipped in ``data/``. Audio is 16 kHz mono float32 in [-1, 1]; times are
seconds; speakers are ints (0, 1, ... in order of first appearance, or channel numbers) or None (unknown).
Role names are given by the caller.

One microphone::

    regions = speech_regions(audio)                    # Silero VAD, 250 ms pauses
    labelled = Diarizer(k=2).label_words(audio, words, regions)
    for turn in turns(labelled): ...

Two channels (microphone, call audio)::

    if channels_differ(stereo): labelled = label_words_by_channel(stereo, words)
    # a long file, block by block: FramePowers().add(block) ..., powers_differ / label_words_by_power

Roles from an enrolled voice::

    vp = voiceprint(clip, speech_regions(clip), embedder)   # InputError on silence or two voices
    wl = Diarizer(embedder).label_windows(audio, regions)
    match_enrolled(wl.clustering.centroids, vp).speaker     # the cluster that is the enrolled voice, or None
"""

from hushnote.daemon.speakers.channels import (
    FramePowers,
    channels_differ,
    label_words_by_channel,
    label_words_by_power,
    powers_differ,
)
from hushnote.daemon.speakers.cluster import Clustering, EnrolmentMatch, cluster, match_enrolled
from hushnote.daemon.speakers.diarize import (
    Diarizer,
    Gathered,
    WindowLabels,
    make_windows,
    words_from_windows,
)
from hushnote.daemon.speakers.embedder import Embedder, Window, embed_windows
from hushnote.daemon.speakers.enrol import voiceprint
from hushnote.daemon.speakers.labels import LabelledWord, Turn, Word, smooth, turns
from hushnote.daemon.speakers.vad import speech_regions

__all__ = [
    "Clustering",
    "Diarizer",
    "Embedder",
    "FramePowers",
    "EnrolmentMatch",
    "Gathered",
    "LabelledWord",
    "Turn",
    "Window",
    "WindowLabels",
    "Word",
    "channels_differ",
    "cluster",
    "embed_windows",
    "label_words_by_channel",
    "label_words_by_power",
    "make_windows",
    "match_enrolled",
    "powers_differ",
    "smooth",
    "speech_regions",
    "turns",
    "voiceprint",
    "words_from_windows",
]
