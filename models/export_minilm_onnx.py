#!/usr/bin/env python3
"""Build an ONNX graph of all-MiniLM-L6-v2 (a 6-layer BERT encoder) from its safetensors weights.

Why this exists: no installable package carries an fp32 ONNX file of this model, and the usual
export route (torch + transformers, about 6 GB) is far too heavy for an installer. A BERT encoder is
small enough to write out node by node with the `onnx` helper API, so this script needs only `onnx`
and `numpy` (weights are read by parsing the safetensors header directly, see `read_safetensors`).

The graph takes `input_ids`, `attention_mask` and `token_type_ids` (int64, [batch, seq]) and returns
`last_hidden_state` (float32, [batch, seq, hidden]): token embeddings before pooling, which is what
fastembed's mean pooling reads (it takes the sole output of the session).

Usage:
    export_minilm_onnx.py MODEL_DIR OUT.onnx [--reference REF.json] [--int8]

With `--int8` the graph is then quantized for faster CPU inference with onnxruntime's dynamic
quantization: every weight matrix (the MatMuls with a constant right-hand side, and the
embedding tables) is stored as int8 with one scale per output channel, and activations are
quantized per call. Embedding is 1.3-1.8x faster than fp32 on 2 cores (3.0-3.7x
sentence-transformers), the file is a quarter of the size, and the vectors stay close to the
fp32 ones (cosine >= 0.97 against the reference, nDCG@10 on tests/eval unchanged; see
docs/BENCHMARKS.md).

MODEL_DIR holds `model.safetensors`, `config.json` and `tokenizer.json`. With `--reference`, the
written model is run with onnxruntime on the reference sentences (tokenised with the `tokenizers`
package, truncated to `--max-length`), and every mean-pooled, normalised vector must reach cosine
>= 0.9999 with its reference vector; the script exits non-zero otherwise and leaves no output file.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # LayerNormalization is a standard op from opset 17 on.
MIN_COSINE = 0.9999
# int8 weights and per-call activation scales move the vectors a little: 0.987-0.997 on the
# reference sentences, 0.972 on the empty text (nothing but [CLS] [SEP]). Retrieval quality is
# what matters, and it is measured on tests/eval (docs/BENCHMARKS.md).
MIN_COSINE_INT8 = 0.97

_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Reads every tensor of a safetensors file into float32 numpy arrays.

    The format is an 8-byte little-endian header length, a JSON header mapping names to dtype, shape
    and byte offsets, then the raw little-endian data. Parsing it here avoids one more dependency.
    """
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise SystemExit(f"error: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start : base + end], dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(np.float32)
    return tensors


class GraphBuilder:
    """Collects nodes and initializers with readable, deterministic names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._counter = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        self._counter += 1
        out = f"{name}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{op_type}_{self._counter}", **attrs))
        return out


def linear(g: GraphBuilder, x: str, w: np.ndarray, b: np.ndarray, prefix: str) -> str:
    # torch stores Linear weights as [out, in]; MatMul wants [in, out].
    wt = g.const(f"{prefix}.weight_t", w.T.copy())
    bias = g.const(f"{prefix}.bias", b)
    y = g.op("MatMul", [x, wt], f"{prefix}/matmul")
    return g.op("Add", [y, bias], f"{prefix}/out")


def layer_norm(g: GraphBuilder, x: str, w: dict[str, np.ndarray], prefix: str, eps: float) -> str:
    gamma = g.const(f"{prefix}.weight", w[f"{prefix}.weight"])
    beta = g.const(f"{prefix}.bias", w[f"{prefix}.bias"])
    return g.op("LayerNormalization", [x, gamma, beta], f"{prefix}/out", axis=-1, epsilon=eps)


def build_model(weights: dict[str, np.ndarray], config: dict) -> onnx.ModelProto:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config["layer_norm_eps"])
    if config.get("hidden_act", "gelu") != "gelu":
        raise SystemExit(f"error: unsupported activation {config['hidden_act']}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("error: only absolute position embeddings are supported")
    head_dim = hidden // heads

    # Some checkpoints prefix every tensor with "bert."; strip it so the names below are uniform.
    w = {k.removeprefix("bert."): v for k, v in weights.items()}

    g = GraphBuilder()
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]

    # Embeddings: word + position + token type, then LayerNorm.
    word = g.op("Gather", [g.const("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"]), "input_ids"], "emb/word", axis=0)
    ttype = g.op("Gather", [g.const("embeddings.token_type_embeddings.weight", w["embeddings.token_type_embeddings.weight"]), "token_type_ids"], "emb/type", axis=0)
    # Position embeddings are the first `seq` rows of the table. A Slice with 1-D bounds is used
    # rather than Gather(Range(..)): ONNX Runtime 1.31 rewrites that Gather into a Slice with scalar
    # bounds, which then fails at run time ("Starts must be a 1-D array").
    seq_len = g.op("Shape", ["input_ids"], "emb/seq_len", start=1, end=2)
    zero = g.const("const.zero_1d", np.array([0], dtype=np.int64))
    pos_table = g.const("embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"])
    pos = g.op("Slice", [pos_table, zero, seq_len, zero], "emb/pos")
    x = g.op("Add", [word, ttype], "emb/word_type")
    x = g.op("Add", [x, pos], "emb/sum")
    x = layer_norm(g, x, w, "embeddings.LayerNorm", eps)

    # Additive attention mask, [batch, 1, 1, seq]: 0 where attended, the most negative float where
    # padded, as transformers does, so padded keys get exactly zero weight after softmax.
    mask_f = g.op("Cast", ["attention_mask"], "mask/float", to=TensorProto.FLOAT)
    mask_4d = g.op("Unsqueeze", [mask_f, g.const("const.axes_1_2", np.array([1, 2], dtype=np.int64))], "mask/4d")
    inverted = g.op("Sub", [g.const("const.one_f", np.array(1.0, dtype=np.float32)), mask_4d], "mask/inverted")
    mask_add = g.op("Mul", [inverted, g.const("const.neg_big", np.array(np.finfo(np.float32).min, dtype=np.float32))], "mask/additive")

    split_shape = g.const("const.split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_shape = g.const("const.merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = g.const("const.scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    sqrt2 = g.const("const.sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    half = g.const("const.half", np.array(0.5, dtype=np.float32))

    for i in range(layers):
        p = f"encoder.layer.{i}"

        def proj(part: str) -> str:
            return linear(g, x, w[f"{p}.attention.self.{part}.weight"], w[f"{p}.attention.self.{part}.bias"], f"{p}.attention.self.{part}")

        q = g.op("Reshape", [proj("query"), split_shape], f"{p}/q_split")
        k = g.op("Reshape", [proj("key"), split_shape], f"{p}/k_split")
        v = g.op("Reshape", [proj("value"), split_shape], f"{p}/v_split")
        q = g.op("Transpose", [q], f"{p}/q_heads", perm=[0, 2, 1, 3])
        k = g.op("Transpose", [k], f"{p}/k_heads_t", perm=[0, 2, 3, 1])
        v = g.op("Transpose", [v], f"{p}/v_heads", perm=[0, 2, 1, 3])
        scores = g.op("MatMul", [q, k], f"{p}/scores")
        scores = g.op("Mul", [scores, scale], f"{p}/scores_scaled")
        scores = g.op("Add", [scores, mask_add], f"{p}/scores_masked")
        probs = g.op("Softmax", [scores], f"{p}/probs", axis=-1)
        ctx = g.op("MatMul", [probs, v], f"{p}/context")
        ctx = g.op("Transpose", [ctx], f"{p}/context_t", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_shape], f"{p}/context_merged")
        attn = linear(g, ctx, w[f"{p}.attention.output.dense.weight"], w[f"{p}.attention.output.dense.bias"], f"{p}.attention.output.dense")
        attn = g.op("Add", [attn, x], f"{p}/attention_residual")
        x = layer_norm(g, attn, w, f"{p}.attention.output.LayerNorm", eps)

        # Feed-forward with exact (erf) GELU, written in the form ONNX Runtime's GELU fusion expects.
        h = linear(g, x, w[f"{p}.intermediate.dense.weight"], w[f"{p}.intermediate.dense.bias"], f"{p}.intermediate.dense")
        e = g.op("Div", [h, sqrt2], f"{p}/gelu_div")
        e = g.op("Erf", [e], f"{p}/gelu_erf")
        e = g.op("Add", [e, "const.one_f"], f"{p}/gelu_add")
        e = g.op("Mul", [h, e], f"{p}/gelu_mul")
        h = g.op("Mul", [e, half], f"{p}/gelu")
        out = linear(g, h, w[f"{p}.output.dense.weight"], w[f"{p}.output.dense.bias"], f"{p}.output.dense")
        out = g.op("Add", [out, x], f"{p}/output_residual")
        x = layer_norm(g, out, w, f"{p}.output.LayerNorm", eps)

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])
    graph = helper.make_graph(g.nodes, "all-MiniLM-L6-v2", inputs, [output], g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="cairn/export_minilm_onnx.py",
        producer_version="1",
    )
    # Pin the IR version so the bytes do not depend on the onnx package's default.
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def quantize(fp32_path: Path, out_path: Path) -> None:
    """Writes the int8 version of the fp32 graph at `fp32_path` (see the module docs)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs a generic advice to pre-process the model on the root logger; this
    # graph has nothing to pre-process.
    logging.getLogger().setLevel(logging.ERROR)
    model = onnx.load(str(fp32_path))
    constants = {init.name for init in model.graph.initializer}
    nodes = [
        node.name
        for node in model.graph.node
        if (node.op_type == "MatMul" and node.input[1] in constants)
        or (node.op_type == "Gather" and node.input[0] in constants)
    ]
    quantize_dynamic(
        str(fp32_path),
        str(out_path),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_quantize=nodes,
    )


def verify(
    model_path: Path, model_dir: Path, reference_path: Path, max_length: int, min_cosine: float
) -> float:
    """Runs the exported model on the reference sentences; returns the lowest cosine."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    reference = json.loads(reference_path.read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    worst = 1.0
    for sentence, expected in zip(reference["sentences"], reference["vectors"]):
        enc = tokenizer.encode(sentence)
        feed = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        (hidden,) = session.run(["last_hidden_state"], feed)
        pooled = hidden[0].mean(axis=0)
        pooled /= np.linalg.norm(pooled)
        expected = np.asarray(expected, dtype=np.float64)
        cosine = float(np.dot(pooled, expected) / np.linalg.norm(expected))
        worst = min(worst, cosine)
        if cosine < min_cosine:
            raise SystemExit(
                f"error: exported model disagrees with the reference on {sentence[:40]!r}: "
                f"cosine {cosine:.6f} < {min_cosine}"
            )
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--reference", type=Path, help="reference vectors JSON to verify against")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--int8", action="store_true", help="quantize the weights to int8")
    args = parser.parse_args()

    config = json.loads((args.model_dir / "config.json").read_text(encoding="utf-8"))
    weights = read_safetensors(args.model_dir / "model.safetensors")
    model = build_model(weights, config)
    tmp = args.output.with_name(args.output.name + ".partial")
    tmp.write_bytes(model.SerializeToString(deterministic=True))
    if args.int8:
        fp32 = args.output.with_name(args.output.name + ".fp32.partial")
        tmp.replace(fp32)
        try:
            quantize(fp32, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            fp32.unlink(missing_ok=True)
    if args.reference is not None:
        bar = MIN_COSINE_INT8 if args.int8 else MIN_COSINE
        try:
            worst = verify(tmp, args.model_dir, args.reference, args.max_length, bar)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        print(f"verified against {args.reference.name}: lowest cosine {worst:.7f}")
    tmp.replace(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
