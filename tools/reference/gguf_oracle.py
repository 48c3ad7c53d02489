#!/usr/bin/env python3
"""Independent oracle for GGUF llama models: llama.cpp's own Python reader (PyPI `gguf`) and the
Rust Hugging Face tokenizers (PyPI `tokenizers`), plus the float64 numpy forward pass of
llama_numpy.py. Written from llama.cpp's convert_hf_to_gguf.py (the Q/K permutation) and
llama-vocab.cpp (the pre-tokenizer regexes), not from this project's TypeScript importer.

Subcommands:
  logits    --gguf F --prompts P --out O   P: JSON list of token-id lists; O: float32 logits of
            every prompt, concatenated (prompt-major, then position, then vocabulary)
  tokenize  --gguf F --strings S           S: JSON list of strings; prints a JSON list of id lists
"""
import argparse
import json
import os
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_numpy import forward  # noqa: E402

# gguf name -> HF name (llama.cpp gguf-py tensor_mapping.py, the llama rows)
LAYER = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
GLOBAL = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
          "output.weight": "lm_head.weight"}


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    if f.types[0] == GGUFValueType.ARRAY:
        if f.types[-1] == GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    if f.types[0] == GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    return f.parts[f.data[0]].tolist()[0]


def unpermute(w, n_head):
    """Inverse of convert_hf_to_gguf.py's LlamaModel.permute:
    w.reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2).reshape(w.shape)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load(path):
    r = GGUFReader(path)
    arch = field(r, "general.architecture")
    if arch != "llama":
        raise SystemExit(f"oracle reads llama GGUFs only, got {arch}")
    nh = field(r, "llama.attention.head_count")
    nkv = field(r, "llama.attention.head_count_kv", nh)
    names = {t.name for t in r.tensors}
    cfg = {
        "model_type": "llama",
        "num_hidden_layers": field(r, "llama.block_count"),
        "hidden_size": field(r, "llama.embedding_length"),
        "num_attention_heads": nh,
        "num_key_value_heads": nkv,
        "rms_norm_eps": field(r, "llama.attention.layer_norm_rms_epsilon"),
        "rope_theta": field(r, "llama.rope.freq_base", 10000.0),
        "tie_word_embeddings": "output.weight" not in names,
        "vocab_size": len(field(r, "tokenizer.ggml.tokens")),
    }
    cfg["head_dim"] = field(r, "llama.attention.key_length", cfg["hidden_size"] // nh)
    w = {}
    for t in r.tensors:
        if t.name in GLOBAL:
            hf = GLOBAL[t.name]
        else:
            _, layer, part, kind = t.name.split(".")
            hf = f"model.layers.{layer}.{LAYER[part]}.{kind}"
        a = dequantize(t.data, t.tensor_type).astype(np.float64)
        a = a.reshape([int(d) for d in reversed(t.shape)]) if len(t.shape) > 1 else a.reshape(-1)
        if ".attn_q." in t.name:
            a = unpermute(a, nh)
        elif ".attn_k." in t.name:
            a = unpermute(a, nkv)
        w[hf] = a
    return r, cfg, w


def cmd_logits(args):
    _, cfg, w = load(args.gguf)
    with open(args.prompts) as f:
        prompts = json.load(f)
    with open(args.out, "wb") as out:
        for tokens in prompts:
            out.write(forward(cfg, w, tokens).astype("<f4").tobytes())


# llama-vocab.cpp, LLAMA_VOCAB_PRE_TYPE_SMOLLM: digits one by one, then GPT-2's split
GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
PRE_SPLITS = {"smollm": [r"\p{N}", GPT2_SPLIT], "gpt-2": [GPT2_SPLIT], "default": [GPT2_SPLIT]}


def cmd_tokenize(args):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    r = GGUFReader(args.gguf)
    if field(r, "tokenizer.ggml.model") != "gpt2":
        raise SystemExit("oracle builds byte-level BPE (gpt2) tokenizers only")
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(r, "tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    splits = [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in PRE_SPLITS[field(r, "tokenizer.ggml.pre", "default")]]
    tok.pre_tokenizer = pre_tokenizers.Sequence(splits + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    # llama.cpp token types: 3 = control (special), 4 = user-defined
    tok.add_tokens([AddedToken(t, special=(types[i] == 3), normalized=False) for i, t in enumerate(tokens) if types[i] in (3, 4)])
    with open(args.strings) as f:
        strings = json.load(f)
    ids = [tok.encode(s, add_special_tokens=False).ids for s in strings]
    sys.stdout.write(json.dumps(ids) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lg = sub.add_parser("logits")
    lg.add_argument("--gguf", required=True)
    lg.add_argument("--prompts", required=True)
    lg.add_argument("--out", required=True)
    tk = sub.add_parser("tokenize")
    tk.add_argument("--gguf", required=True)
    tk.add_argument("--strings", required=True)
    args = ap.parse_args()
    cmd_logits(args) if args.cmd == "logits" else cmd_tokenize(args)


if __name__ == "__main__":
    main()
