#!/usr/bin/env python3
"""Writes small random-weight GGUF models of every family Cairn claims, with
the same tensor names, metadata keys and block types as real files, for the
conformance test against llama.cpp (crates/llm/tests/it/conformance.rs).

    python3 make_models.py OUT_DIR

Deterministic: the same numpy and gguf versions write the same bytes (the
test checks each file's sha256 against the one llama.cpp's reference was
computed on, in reference.json). Needs numpy and gguf from PyPI (the models
venv that scripts/setup.sh installs has both).

Each model: 2 layers, hidden 256, 4 query heads and 2 KV heads of 64, MLP 512,
a byte-level BPE vocabulary of 300 tokens, weights in a mix of the GGUF block
types real files use (the family's list below), so that every weight format of
Cairn's kernels and every decoder path is exercised.
"""

import hashlib
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

HIDDEN, FF, HEADS, KV_HEADS, LAYERS, CTX = 256, 512, 4, 2, 2, 256
HEAD_DIM = HIDDEN // HEADS
EPS = 1e-5

# Block types gguf-py can quantize to; K-quants are written as random blocks.
PY_QUANT = {Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.F16, Q.F32}


def byte_vocab():
    """GPT-2's byte-to-unicode table as 256 tokens, a few merges, and specials."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_tokens = [chr(c) for _, c in sorted(zip(bs, cs))]
    merges = ["Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t"]
    merged = [m.replace(" ", "") for m in merges]
    # ChatML's markers, and Phi-3's (llama.cpp looks some of them up by text).
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
    tokens = byte_tokens + merged + specials
    while len(tokens) < 300:
        tokens.append(f"<|reserved_{len(tokens)}|>")
    types = [1] * (256 + len(merged)) + [3] * (len(tokens) - 256 - len(merged))
    return tokens, types, merges


def spm_vocab():
    """A SentencePiece-style vocabulary: control tokens, the 256 byte tokens, a
    few pieces with scores, Phi-3's markers; what llama.cpp's phi3 loader expects."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    pieces = ["▁the", "▁a", "▁of", "▁to", "▁and", "▁in", "▁is", "er", "on", "at"]
    tokens += pieces
    specials = ["<|endoftext|>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
    tokens += specials
    while len(tokens) < 300:
        tokens.append(f"<|reserved_{len(tokens)}|>")
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces) + [3] * (len(tokens) - 259 - len(pieces))
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))] + [0.0] * (len(tokens) - 259 - len(pieces))
    return tokens, types, scores


def random_k_blocks(rng, qtype, rows, cols):
    """Random K-quant blocks with sane f16 scales (codes and sub-scales random)."""
    block_bytes, d_at = {Q.Q4_K: (144, [0, 2]), Q.Q5_K: (176, [0, 2]), Q.Q6_K: (210, [208])}[qtype]
    blocks = rows * cols // 256
    data = rng.integers(0, 256, size=(blocks, block_bytes), dtype=np.uint8)
    for at in d_at:
        d = (rng.random(blocks) * 0.004 + 0.001).astype(np.float16)
        data[:, at:at + 2] = d.view(np.uint8).reshape(blocks, 2)
    return data.reshape(rows, cols // 256 * block_bytes)


def tensor(w, rng, name, shape, qtype, scale=0.08):
    if qtype in (Q.Q4_K, Q.Q5_K, Q.Q6_K):
        w.add_tensor(name, random_k_blocks(rng, qtype, shape[0], shape[1]), raw_dtype=qtype)
        return
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    if qtype == Q.F32:
        w.add_tensor(name, x)
    else:
        w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)


def norm(w, rng, name, n=HIDDEN):
    w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32))


# family -> (architecture, block types for attention, MLP, MLP down, embeddings)
FAMILIES = {
    "llama": ("llama", Q.Q8_0, Q.Q4_0, Q.Q4_K, Q.Q8_0),
    "llama3": ("llama", Q.Q5_K, Q.Q5_0, Q.Q6_K, Q.Q8_0),
    "qwen2": ("qwen2", Q.Q5_0, Q.Q5_0, Q.Q6_K, Q.Q8_0),
    "qwen3": ("qwen3", Q.Q4_1, Q.Q5_1, Q.Q8_0, Q.Q8_0),
    "phi3": ("phi3", Q.Q8_0, Q.Q4_0, Q.Q8_0, Q.Q8_0),
    "gemma3": ("gemma3", Q.Q4_K, Q.Q4_K, Q.Q6_K, Q.Q8_0),
}


def make(family, out: Path):
    arch, attn_q, mlp_q, down_q, emb_q = FAMILIES[family]
    rng = np.random.default_rng(sum(map(ord, family)))
    path = out / f"tiny-{family}.gguf"
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny {family}")
    w.add_block_count(LAYERS)
    w.add_context_length(CTX)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FF)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_layer_norm_rms_eps(EPS)
    w.add_rope_freq_base(500000.0 if family == "llama3" else 10000.0)
    w.add_rope_dimension_count(HEAD_DIM)
    if arch in ("qwen3", "gemma3"):
        w.add_key_length(HEAD_DIM)
        w.add_value_length(HEAD_DIM)
    if arch == "gemma3":
        w.add_sliding_window(4)
        w.add_uint32("gemma3.attention.sliding_window_type", 2)
    if arch == "phi3":
        w.add_uint32("phi3.rope.scaling.original_context_length", CTX)
    if arch == "phi3":
        tokens, types, scores = spm_vocab()
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_scores(scores)
        w.add_bos_token_id(1)
        w.add_eos_token_id(tokens.index("<|end|>"))
        w.add_unk_token_id(0)
    else:
        tokens, types, merges = byte_vocab()
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_bos_token_id(tokens.index("<|endoftext|>"))
        w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}")

    vocab = len(tokens)
    tensor(w, rng, "token_embd.weight", (vocab, HIDDEN), emb_q, scale=1.0)
    norm(w, rng, "output_norm.weight")
    if arch in ("llama", "phi3"):
        tensor(w, rng, "output.weight", (vocab, HIDDEN), emb_q, scale=0.5)
    if family == "llama3":
        w.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, HEAD_DIM // 2).astype(np.float32))
    for i in range(LAYERS):
        p = f"blk.{i}"
        norm(w, rng, f"{p}.attn_norm.weight")
        norm(w, rng, f"{p}.ffn_norm.weight")
        if arch == "phi3":
            tensor(w, rng, f"{p}.attn_qkv.weight", (HIDDEN + 2 * KV_HEADS * HEAD_DIM, HIDDEN), attn_q)
            tensor(w, rng, f"{p}.ffn_up.weight", (2 * FF, HIDDEN), mlp_q)
        else:
            tensor(w, rng, f"{p}.attn_q.weight", (HEADS * HEAD_DIM, HIDDEN), attn_q)
            tensor(w, rng, f"{p}.attn_k.weight", (KV_HEADS * HEAD_DIM, HIDDEN), attn_q)
            tensor(w, rng, f"{p}.attn_v.weight", (KV_HEADS * HEAD_DIM, HIDDEN), attn_q)
            tensor(w, rng, f"{p}.ffn_gate.weight", (FF, HIDDEN), mlp_q)
            tensor(w, rng, f"{p}.ffn_up.weight", (FF, HIDDEN), mlp_q)
        tensor(w, rng, f"{p}.attn_output.weight", (HIDDEN, HEADS * HEAD_DIM), attn_q)
        tensor(w, rng, f"{p}.ffn_down.weight", (HIDDEN, FF), down_q)
        if arch == "qwen2":
            for n, size in (("q", HEADS * HEAD_DIM), ("k", KV_HEADS * HEAD_DIM), ("v", KV_HEADS * HEAD_DIM)):
                w.add_tensor(f"{p}.attn_{n}.bias", (0.05 * rng.standard_normal(size)).astype(np.float32))
        if arch in ("qwen3", "gemma3"):
            norm(w, rng, f"{p}.attn_q_norm.weight", HEAD_DIM)
            norm(w, rng, f"{p}.attn_k_norm.weight", HEAD_DIM)
        if arch == "gemma3":
            norm(w, rng, f"{p}.post_attention_norm.weight")
            norm(w, rng, f"{p}.post_ffw_norm.weight")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for family in FAMILIES:
        path = make(family, out)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{family} {path.name} {digest}")


if __name__ == "__main__":
    main()
