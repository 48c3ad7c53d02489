#!/usr/bin/env python3
"""Independent numpy oracle for Llama-family causal LMs (Llama, Qwen2, Mistral).

This file was written from the Hugging Face `transformers` modeling code
(modeling_llama.py / modeling_qwen2.py / modeling_mistral.py, modeling_rope_utils.py,
masking_utils.py) and the safetensors file format specification -- NOT from this
project's TypeScript engine -- so that it can serve as an independent reference.
It depends only on python3 + numpy.

Subcommands:
  make-checkpoint  write a random tiny checkpoint in exact HF layout
                   (config.json as transformers writes it + model.safetensors)
  logits           run the HF forward pass in float64 and print
                   {"tokens": [...], "logits": [[...vocab...], ...]}  (one JSON line)
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

ARCHS = {
    "llama": ("LlamaForCausalLM", "llama"),
    "qwen2": ("Qwen2ForCausalLM", "qwen2"),
    "mistral": ("MistralForCausalLM", "mistral"),
}
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


# ---------------------------------------------------------------- safetensors I/O
def f32_to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns, round-to-nearest-even on the dropped 16 bits."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return (rounded & 0xFFFF).astype(np.uint16)


def bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors, dtype):
    """tensors: {name: float array}. Stored as dtype (F32/F16/BF16), little-endian."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype=np.float32)
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()  # numpy rounds to nearest even
        elif dtype == "BF16":
            raw = f32_to_bf16_bits(a).astype("<u2").tobytes()
        else:
            raise ValueError(f"unsupported dtype {dtype}")
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data section starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    """Returns {name: float64 array} for F32/F16/BF16 tensors."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw, shape, dt = body[begin:end], tuple(info["shape"]), info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2")
        elif dt == "BF16":
            a = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            raise ValueError(f"{name}: unsupported dtype {dt}")
        out[name] = a.astype(np.float64).reshape(shape)
    return out


# ---------------------------------------------------------------- checkpoint generation
def make_config(args):
    arch, model_type = ARCHS[args.arch]
    cfg = {
        "architectures": [arch],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": args.hidden,
        "initializer_range": 0.02,
        "intermediate_size": args.intermediate,
        "max_position_embeddings": args.max_pos,
        "model_type": model_type,
        "num_attention_heads": args.heads,
        "num_hidden_layers": args.layers,
        "num_key_value_heads": args.kv_heads,
        "rms_norm_eps": args.eps,
        "rope_scaling": None,
        "rope_theta": args.rope_theta,
        "tie_word_embeddings": bool(args.tied),
        "torch_dtype": TORCH_DTYPE[args.dtype],
        "transformers_version": "4.46.3",
        "use_cache": True,
        "vocab_size": args.vocab,
    }
    if args.arch == "qwen2":
        # Qwen2Config has no head_dim: it is hidden_size // num_attention_heads.
        if args.head_dim is not None and args.head_dim * args.heads != args.hidden:
            raise SystemExit("qwen2: head_dim must equal hidden / heads")
        cfg.update(max_window_layers=args.layers, sliding_window=None, use_sliding_window=False)
    else:
        cfg["head_dim"] = args.head_dim if args.head_dim is not None else args.hidden // args.heads
    if args.arch == "llama":
        cfg.update(attention_bias=bool(args.attention_bias), mlp_bias=bool(args.mlp_bias), pretraining_tp=1)
    if args.arch == "mistral":
        cfg["sliding_window"] = args.sliding_window
    if args.rope_scaling == "llama3":
        cfg["rope_scaling"] = {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                               "original_max_position_embeddings": 256, "rope_type": "llama3"}
    elif args.rope_scaling == "linear":
        cfg["rope_scaling"] = {"factor": 2.0, "rope_type": "linear"}
    return cfg


def make_weights(cfg, rng):
    h, inter, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = head_dim_of(cfg)
    nq, nkv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    is_qwen2, is_llama = cfg["model_type"] == "qwen2", cfg["model_type"] == "llama"
    attn_bias = is_llama and cfg.get("attention_bias", False)
    mlp_bias = is_llama and cfg.get("mlp_bias", False)

    def mat(rows, cols, std=None):  # torch nn.Linear layout: [out_features, in_features]
        return rng.normal(0.0, std if std is not None else 1.0 / math.sqrt(cols) * 1.5, size=(rows, cols))

    def norm_w(n):
        return rng.uniform(0.5, 1.5, size=n)

    def bias(n):
        return rng.normal(0.0, 0.2, size=n)

    w = {"model.embed_tokens.weight": mat(v, h, std=0.5), "model.norm.weight": norm_w(h)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm_w(h)
        w[p + "post_attention_layernorm.weight"] = norm_w(h)
        for name, (rows, cols) in {"q_proj": (nq, h), "k_proj": (nkv, h), "v_proj": (nkv, h), "o_proj": (h, nq)}.items():
            w[p + f"self_attn.{name}.weight"] = mat(rows, cols)
            if attn_bias or (is_qwen2 and name != "o_proj"):
                w[p + f"self_attn.{name}.bias"] = bias(rows)
        for name, (rows, cols) in {"gate_proj": (inter, h), "up_proj": (inter, h), "down_proj": (h, inter)}.items():
            w[p + f"mlp.{name}.weight"] = mat(rows, cols)
            if mlp_bias:
                w[p + f"mlp.{name}.bias"] = bias(rows)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = mat(v, h, std=0.3)
    return w


def cmd_make_checkpoint(args):
    cfg = make_config(args)
    weights = make_weights(cfg, np.random.default_rng(args.seed))
    for name in args.drop_tensor or []:
        if name not in weights:
            raise SystemExit(f"--drop-tensor: no tensor named {name}")
        del weights[name]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    write_safetensors(os.path.join(args.out, "model.safetensors"), weights, args.dtype)


# ---------------------------------------------------------------- HF forward pass (float64)
def head_dim_of(cfg):
    hd = cfg.get("head_dim")
    return hd if hd is not None else cfg["hidden_size"] // cfg["num_attention_heads"]


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope_inv_freq(cfg, dim):
    inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default":
        return inv_freq
    if kind == "linear":
        return inv_freq / rs["factor"]
    if kind == "llama3":  # modeling_rope_utils._compute_llama3_parameters
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old_ctx = rs["original_max_position_embeddings"]
        low_wl, high_wl = old_ctx / lo, old_ctx / hi
        wavelen = 2 * math.pi / inv_freq
        out = np.where(wavelen > low_wl, inv_freq / factor, inv_freq)
        smooth = (old_ctx / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        is_medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
        return np.where(is_medium, smoothed, out)
    raise SystemExit(f"unsupported rope_scaling type {kind}")


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def linear(x, w, name):
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if name + ".bias" in w else y


def sliding_window_for_layer(cfg, layer):
    if cfg["model_type"] == "qwen2":
        if not cfg.get("use_sliding_window", False) or layer < cfg.get("max_window_layers", 0):
            return None
    return cfg.get("sliding_window")


def forward(cfg, w, tokens):
    T, eps = len(tokens), cfg["rms_norm_eps"]
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim_of(cfg)
    freqs = np.outer(np.arange(T, dtype=np.float64), rope_inv_freq(cfg, hd))
    emb = np.concatenate([freqs, freqs], axis=-1)  # [T, hd]
    cos, sin = np.cos(emb), np.sin(emb)
    q_idx, kv_idx = np.arange(T)[:, None], np.arange(T)[None, :]

    x = w["model.embed_tokens.weight"][np.asarray(tokens)]  # [T, hidden]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = linear(h, w, p + "self_attn.q_proj").reshape(T, nh, hd).transpose(1, 0, 2)
        k = linear(h, w, p + "self_attn.k_proj").reshape(T, nkv, hd).transpose(1, 0, 2)
        v = linear(h, w, p + "self_attn.v_proj").reshape(T, nkv, hd).transpose(1, 0, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = np.repeat(k, nh // nkv, axis=0), np.repeat(v, nh // nkv, axis=0)  # repeat_kv
        allowed = kv_idx <= q_idx
        window = sliding_window_for_layer(cfg, i)
        if window is not None:
            allowed &= kv_idx > q_idx - window  # masking_utils.sliding_window_overlay
        scores = np.where(allowed, q @ k.transpose(0, 2, 1) / math.sqrt(hd), -np.inf)
        probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        attn = (probs @ v).transpose(1, 0, 2).reshape(T, nh * hd)
        x = x + linear(attn, w, p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = linear(h, w, p + "mlp.gate_proj")
        x = x + linear(gate / (1.0 + np.exp(-gate)) * linear(h, w, p + "mlp.up_proj"), w, p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return x @ head.T


def cmd_logits(args):
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("hidden_act", "silu") != "silu":
        raise SystemExit(f"unsupported hidden_act {cfg['hidden_act']}")
    w = read_safetensors(os.path.join(args.model, "model.safetensors"))
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    if any(t < 0 or t >= cfg["vocab_size"] for t in tokens):
        raise SystemExit("token id out of range")
    logits = forward(cfg, w, tokens)
    sys.stdout.write(json.dumps({"tokens": tokens, "logits": logits.tolist()}) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-checkpoint", help="write a random tiny HF checkpoint")
    mk.add_argument("--out", required=True)
    mk.add_argument("--arch", choices=sorted(ARCHS), required=True)
    mk.add_argument("--seed", type=int, required=True)
    mk.add_argument("--tied", action="store_true", help="tie_word_embeddings (no lm_head.weight)")
    mk.add_argument("--layers", type=int, default=2)
    mk.add_argument("--hidden", type=int, default=20)
    mk.add_argument("--heads", type=int, default=5)
    mk.add_argument("--kv-heads", type=int, default=1)
    mk.add_argument("--head-dim", type=int, default=None, help="default hidden / heads")
    mk.add_argument("--intermediate", type=int, default=37)
    mk.add_argument("--vocab", type=int, default=53)
    mk.add_argument("--max-pos", type=int, default=64)
    mk.add_argument("--rope-theta", type=float, default=10000.0)
    mk.add_argument("--rope-scaling", choices=["llama3", "linear"], default=None)
    mk.add_argument("--eps", type=float, default=1e-5)
    mk.add_argument("--attention-bias", action="store_true", help="llama only")
    mk.add_argument("--mlp-bias", action="store_true", help="llama only")
    mk.add_argument("--sliding-window", type=int, default=None, help="mistral only")
    mk.add_argument("--dtype", choices=sorted(TORCH_DTYPE), default="F32")
    mk.add_argument("--drop-tensor", action="append", help="omit this tensor (to test error paths)")
    lg = sub.add_parser("logits", help="print next-token logits at every position")
    lg.add_argument("--model", required=True)
    lg.add_argument("--tokens", required=True)
    args = ap.parse_args()
    if args.cmd == "make-checkpoint":
        if args.heads % args.kv_heads:
            raise SystemExit("heads must be a multiple of kv-heads")
        cmd_make_checkpoint(args)
    else:
        cmd_logits(args)


if __name__ == "__main__":
    main()
