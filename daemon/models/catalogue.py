"""The curated list of models ``hushnote models fetch`` may download. Data only: no network, no I/O.

Every file is pinned to a repository *revision* (a commit id where we know one) and, where we know it,
its sha256 and exact size. The hashes are the Hugging Face LFS object ids of those files, as
published by independent projects that pinned the same files (cross-checked where two sources
agreed); a download is only installed when its sha256 matches. A file whose sha256 is not known
in advance (``sha256=None``) is checked against the sha256 the server announces for it (the
``X-Linked-Etag`` / ``ETag`` header Hugging Face sends for LFS files); without either, it is refused.

Licences differ and matter: Qwen2.5 3B is *not* Apache-2.0 (Qwen Research License, non-commercial),
Llama 3.2 carries Meta's community licence. ``models fetch`` shows the licence before downloading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["llm", "whisper"]


@dataclass(frozen=True)
class ModelFile:
    path: str  # inside the repository (and inside the model's folder once fetched)
    size: int  # bytes: exact when ``sha256`` is set, approximate otherwise
    sha256: str | None = None  # lower-case hex; None = trust the server's announced sha256


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    kind: Kind
    repo: str  # owner/name on the hub
    revision: str  # a commit id (pinned) or a branch name
    files: tuple[ModelFile, ...]
    licence: str
    licence_url: str
    purpose: str
    licence_note: str = ""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def main_file(self) -> ModelFile:
        """For an llm: the GGUF the settings point at."""
        return self.files[0]


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


_LLAMA_LICENCE = "https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct/blob/main/LICENSE.txt"

CATALOGUE: dict[str, CatalogueEntry] = {
    e.name: e
    for e in (
        CatalogueEntry(
            name="llama-3.2-3b",
            kind="llm",
            repo="unsloth/Llama-3.2-3B-Instruct-GGUF",
            revision="e7d0997e49c9cb00d88b4c1a6a16aa894b0bbc31",
            files=(ModelFile("Llama-3.2-3B-Instruct-Q4_K_M.gguf", 2_019_377_600,
                             "6c99cc00ae910f6a532a80022cb4bc1939094527a089c29294b841c0bd87f74d"),),
            licence="Llama 3.2 Community License",
            licence_url=_LLAMA_LICENCE,
            licence_note="Meta's acceptable-use policy applies",
            purpose="drafting notes (llm engine): good quality on a laptop CPU, about 4 GB of memory",
        ),
        CatalogueEntry(
            name="qwen2.5-3b",
            kind="llm",
            repo="Qwen/Qwen2.5-3B-Instruct-GGUF",
            revision="7dabda4d13d513e3e842b20f0d435c732f172cbe",
            files=(ModelFile("qwen2.5-3b-instruct-q4_k_m.gguf", 2_104_932_768,
                             "626b4a6678b86442240e33df819e00132d3ba7dddfe1cdc4fbb18e0a9615c62d"),),
            licence="Qwen Research License",
            licence_url="https://huggingface.co/Qwen/Qwen2.5-3B-Instruct/blob/main/LICENSE",
            licence_note="non-commercial use only: read it before using it in a paid practice",
            purpose="drafting notes (llm engine): similar size to llama-3.2-3b",
        ),
        CatalogueEntry(
            name="qwen2.5-7b",
            kind="llm",
            repo="bartowski/Qwen2.5-7B-Instruct-GGUF",
            revision="main",  # no commit id known; the sha256 below pins the exact file
            files=(ModelFile("Qwen2.5-7B-Instruct-Q4_K_M.gguf", 4_683_074_240,
                             "65b8fcd92af6b4fefa935c625d1ac27ea29dcb6ee14589c55a8f115ceaaa1423"),),
            licence="Apache-2.0",
            licence_url="https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/main/LICENSE",
            purpose="drafting notes (llm engine): best quality here; needs about 8 GB of memory and is slow on CPU",
        ),
        CatalogueEntry(
            name="whisper-small.en",
            kind="whisper",
            repo="Systran/faster-whisper-small.en",
            revision="e0e3c0a16c844a994ca4d6d1318ce35f68236052",
            files=(
                ModelFile("model.bin", 483_545_366,
                          "62b2a45b05ee59acb4a5341b33ee35e041395d378d418a18acfe4c9e768ee37a"),
                ModelFile("config.json", 2_657,
                          "666a9605530ac1f61fa8177f3702b4dacec9966749e42610839fcc32661d5fae"),
                ModelFile("tokenizer.json", 2_128_466,
                          "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
                ModelFile("vocabulary.txt", 422_309,
                          "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
            ),
            licence="MIT",
            licence_url="https://github.com/openai/whisper/blob/main/LICENSE",
            purpose="transcription, English only: more accurate than the bundled base model, about 3x slower",
        ),
        CatalogueEntry(
            name="whisper-small",
            kind="whisper",
            repo="Systran/faster-whisper-small",
            revision="536b0662742c02347bc0e980a01041f333bce120",
            files=(
                ModelFile("model.bin", 483_546_902,
                          "3e305921506d8872816023e4c273e75d2419fb89b24da97b4fe7bce14170d671"),
                ModelFile("config.json", 2_370,
                          "b55496ac7940a7ae47d2c01eab40edfd8701feec1229d9cce3b40014383fb828"),
                ModelFile("tokenizer.json", 2_203_239,
                          "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
                ModelFile("vocabulary.txt", 459_861,
                          "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
            ),
            licence="MIT",
            licence_url="https://github.com/openai/whisper/blob/main/LICENSE",
            purpose="transcription, many languages: more accurate than the bundled base model, about 3x slower",
        ),
    )
}


def get(name: str) -> CatalogueEntry | None:
    return CATALOGUE.get(name)


def describe(entry: CatalogueEntry) -> str:
    return f"{entry.name:<18} {entry.kind:<8} {human_size(entry.size):>9}  {entry.licence:<28} {entry.purpose}"
