#!/usr/bin/env python3
"""Independent oracle for GGUF llama models: llama.cpp's own Python reader (PyPI `gguf`) and the
Rust Hugging Face tokenizers (PyPI `tokenizers`), plus the float64 numpy forward pass of
llama_numpy.py. Written from llama.cpp's convert_hf_to_gguf.py (the Q/K permutation) and
llama-vocab.cpp (the pre-tokenizer regexes), not from this project's TypeScript importer.

Subcommands:
  logits    --gguf F --prompts P --out O   P: JSON list of token-id lists; O: float32 logits of
            every prompt, concatenated (prompt-major, then position, then vocabulary)
  tokenize  --gguf F --strings S           S: JSON list of strings; prints a JSON list of id lists
  make-gguf --out F --seed N [--types ...]  a random tiny llama GGUF written by gguf's GGUFWriter
            (Q/K permuted as convert_hf_to_gguf.py does, byte-level tokenizer), for error-path and
            tensor-type tests; --corrupt {none,arch,tokenizer,type} writes one defect on purpose
"""
import argparse
import json
import os
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_numpy import forward, read_safetensors  # noqa: E402

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


def apply_peft_adapter(w, adapter_dir):
    """W += (lora_alpha / r) * B @ A for every PEFT LoRA pair, as PEFT's merge does (no rslora/dora)."""
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        acfg = json.load(f)
    if acfg.get("use_rslora") or acfg.get("use_dora") or acfg.get("peft_type") != "LORA":
        raise SystemExit("oracle applies plain LoRA adapters only")
    scale = acfg["lora_alpha"] / acfg["r"]
    t = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    prefix = "base_model.model."
    for name, a in t.items():
        if name.endswith(".lora_A.weight"):
            base = name[len(prefix):-len(".lora_A.weight")] + ".weight"
            b = t[name[:-len(".lora_A.weight")] + ".lora_B.weight"]
            if w[base].shape != (b.shape[0], a.shape[1]) or b.shape[1] != a.shape[0] != acfg["r"]:
                raise SystemExit(f"{name}: shapes {a.shape}, {b.shape} do not fit {base} {w[base].shape}")
            w[base] = w[base] + scale * (b @ a)


def cmd_logits(args):
    _, cfg, w = load(args.gguf)
    if args.adapter:
        apply_peft_adapter(w, args.adapter)
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


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gpt2_byte_symbols():
    """GPT-2's bytes_to_unicode: the 256 printable stand-ins byte-level BPE uses."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def cmd_make_gguf(args):
    from gguf import GGMLQuantizationType as Q, GGUFWriter
    from gguf.quants import quantize

    rng = np.random.default_rng(args.seed)
    hidden, heads, kv, inter, layers = 64, 4, 2, 96, 2
    hd = hidden // heads
    sym = gpt2_byte_symbols()
    merges = ["\u0120 t", "h e", "\u0120t he", "i n", "e r"]
    tokens = ["<|endoftext|>"] + sym + [m.replace(" ", "") for m in merges]
    types = [3] + [1] * (len(tokens) - 1)
    w = GGUFWriter(args.out, "gpt2" if args.corrupt == "arch" else "llama")
    a = "llama"
    w.add_uint32(f"{a}.block_count", layers)
    w.add_uint32(f"{a}.context_length", 256)
    w.add_uint32(f"{a}.embedding_length", hidden)
    w.add_uint32(f"{a}.feed_forward_length", inter)
    w.add_uint32(f"{a}.attention.head_count", heads)
    w.add_uint32(f"{a}.attention.head_count_kv", kv)
    w.add_float32(f"{a}.rope.freq_base", 10000.0)
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_string("tokenizer.ggml.model", "llama" if args.corrupt == "tokenizer" else "gpt2")
    w.add_string("tokenizer.ggml.pre", "smollm")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_array("tokenizer.ggml.merges", merges)
    w.add_uint32("tokenizer.ggml.bos_token_id", 0)
    w.add_uint32("tokenizer.ggml.eos_token_id", 0)
    big, embed_type, norm_type = (getattr(Q, t) for t in args.types.split(","))

    def put(name, arr, qtype):
        arr = arr.astype(np.float32)
        if qtype in (Q.F32,):
            w.add_tensor(name, arr)
        elif qtype == Q.F16:
            w.add_tensor(name, arr.astype(np.float16))
        else:
            w.add_tensor(name, quantize(arr, qtype), raw_dtype=qtype)

    V = len(tokens)
    put("token_embd.weight", rng.standard_normal((V, hidden)) * 0.5, embed_type)
    for i in range(layers):
        p = f"blk.{i}."
        put(p + "attn_norm.weight", 1 + 0.1 * rng.standard_normal(hidden), norm_type)
        put(p + "ffn_norm.weight", 1 + 0.1 * rng.standard_normal(hidden), norm_type)
        put(p + "attn_q.weight", permute(rng.standard_normal((heads * hd, hidden)) * 0.2, heads), big)
        put(p + "attn_k.weight", permute(rng.standard_normal((kv * hd, hidden)) * 0.2, kv), big)
        put(p + "attn_v.weight", rng.standard_normal((kv * hd, hidden)) * 0.2, big)
        put(p + "attn_output.weight", rng.standard_normal((hidden, heads * hd)) * 0.2, big)
        put(p + "ffn_gate.weight", rng.standard_normal((inter, hidden)) * 0.2, big)
        put(p + "ffn_up.weight", rng.standard_normal((inter, hidden)) * 0.2, big)
        if args.corrupt == "type" and i == 1:  # a K-quant block (256 values, 176 bytes) we do not read
            w.add_tensor(p + "ffn_down.weight", np.zeros((hidden, 176), dtype=np.uint8), raw_dtype=Q.Q5_K)
        else:
            put(p + "ffn_down.weight", rng.standard_normal((hidden, inter)) * 0.2, big)
    put("output_norm.weight", 1 + 0.1 * rng.standard_normal(hidden), norm_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lg = sub.add_parser("logits")
    lg.add_argument("--gguf", required=True)
    lg.add_argument("--prompts", required=True)
    lg.add_argument("--out", required=True)
    lg.add_argument("--adapter", help="a PEFT LoRA directory to merge into the weights first")
    tk = sub.add_parser("tokenize")
    tk.add_argument("--gguf", required=True)
    tk.add_argument("--strings", required=True)
    mk = sub.add_parser("make-gguf")
    mk.add_argument("--out", required=True)
    mk.add_argument("--seed", type=int, default=1)
    mk.add_argument("--types", default="Q4_1,Q8_0,F32", help="projections,embedding,norms")
    mk.add_argument("--corrupt", choices=["none", "arch", "tokenizer", "type"], default="none")
    args = ap.parse_args()
    {"logits": cmd_logits, "tokenize": cmd_tokenize, "make-gguf": cmd_make_gguf}[args.cmd](args)


if __name__ == "__main__":
    main()
