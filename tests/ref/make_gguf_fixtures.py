"""Writes the GGUF fixtures of tests/test_gguf.c with the gguf Python package (llama.cpp's own
GGUF writer and numpy dequantizer), seeded so that reruns are byte-identical.

fixtures/gguf_quants.gguf
    For each ggml type the C reader converts (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
    Q4_K, Q5_K, Q6_K): a tensor named after the type holding random but valid raw blocks (two
    rows of 64 elements, or of 256 for K-quants), and "<type>.expected", the F32 values
    gguf.quants.dequantize gives for those bytes. general.alignment is 64, not the default.

fixtures/gguf_llama_gqa.gguf, fixtures/gguf_llama_tied.gguf
    Tiny random llama-architecture models written the way convert_hf_to_gguf.py writes them:
    q_proj/k_proj rows permuted per head for llama.cpp's interleaved RoPE, ggml names, ne in
    ggml's order. "gqa": F32, 2 layers, 4 query heads over 2 KV heads, head_dim 6 (given by
    attention.key_length, not dim/heads), rope.freq_base 500000, its own output.weight.
    "tied": F16 (norms F32), 1 layer, no head_count_kv, rope.freq_base or output.weight keys,
    so the defaults apply and the embeddings are tied; it also carries a token list.

../fuzz/corpus/gguf/
    Seeds for tests/fuzz/fuzz_gguf.c: the tied model, a 700-byte truncated copy of it, and
    vocab.gguf (a vocabulary with scores, token types and merges, every scalar value type, an
    array of arrays, and Q4_0/Q6_K tensors).

fixtures/gguf_llama_hf.safetensors
    The same weights in Hugging Face layout and names, before the permutation, prefixed
    "gqa." and "tied." (the tied model's weights rounded to fp16 first, so both sides hold the
    same values): what gguf_llama_read must give back exactly.
"""
import os

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")

# Byte offsets of the fp16 scale fields inside one block of each type: random bytes there
# could be inf or NaN, so they get finite moderate values instead.
F16_FIELDS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_blocks(rng, qtype, rows, cols):
    """Raw bytes [rows, bytes per row] of valid blocks of qtype."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = rows * cols // block_size
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for offset in F16_FIELDS[qtype]:
        scale = (rng.uniform(0.01, 2.0, n_blocks) * rng.choice([-1, 1], n_blocks))
        raw[:, offset:offset + 2] = scale.astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(rows, -1)


def write_quants(rng):
    w = gguf.GGUFWriter(os.path.join(OUT, "gguf_quants.gguf"), arch="test")
    w.add_custom_alignment(64)
    rows = 2
    # Plain floats, with fp16 subnormals and signed zeros among the values.
    f32 = rng.standard_normal((rows, 64)).astype(np.float32)
    f16 = rng.standard_normal((rows, 64)).astype(np.float16)
    f16[0, :4] = np.array([6e-8, -3e-6, 0.0, -0.0], dtype=np.float16)
    bf16 = (rng.standard_normal((rows, 64)).astype(np.float32).view(np.uint32) >> 16)
    bf16 = bf16.astype(np.uint16).view(np.uint8).reshape(rows, -1)
    cases = [(T.F32, f32), (T.F16, f16), (T.BF16, bf16)]
    for qtype in F16_FIELDS:
        cols = 256 if gguf.GGML_QUANT_SIZES[qtype][0] == 256 else 64
        cases.append((qtype, random_blocks(rng, qtype, rows, cols)))
    for qtype, data in cases:
        expected = gguf.quants.dequantize(data, qtype).astype(np.float32)
        raw_dtype = qtype if data.dtype == np.uint8 else None
        w.add_tensor(qtype.name, data, raw_dtype=raw_dtype)
        w.add_tensor(qtype.name + ".expected", expected)
    finish(w)


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def permute(weights, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: rotate-half rows to interleaved pairs."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def random_llama(rng, vocab, dim, ffn, n_layers, n_heads, n_kv_heads, head_dim, tied):
    """HF-named float32 weights of a random Llama."""
    def mat(out, inp):
        return (rng.standard_normal((out, inp)) / np.sqrt(inp)).astype(np.float32)

    def norm():
        return (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)

    hf = {"model.embed_tokens.weight": mat(vocab, dim)}
    for i in range(n_layers):
        p = f"model.layers.{i}."
        hf[p + "input_layernorm.weight"] = norm()
        hf[p + "self_attn.q_proj.weight"] = mat(n_heads * head_dim, dim)
        hf[p + "self_attn.k_proj.weight"] = mat(n_kv_heads * head_dim, dim)
        hf[p + "self_attn.v_proj.weight"] = mat(n_kv_heads * head_dim, dim)
        hf[p + "self_attn.o_proj.weight"] = mat(dim, n_heads * head_dim)
        hf[p + "post_attention_layernorm.weight"] = norm()
        hf[p + "mlp.gate_proj.weight"] = mat(ffn, dim)
        hf[p + "mlp.up_proj.weight"] = mat(ffn, dim)
        hf[p + "mlp.down_proj.weight"] = mat(dim, ffn)
    hf["model.norm.weight"] = norm()
    if not tied:
        hf["lm_head.weight"] = mat(vocab, dim)
    return hf


GGUF_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def gguf_name(hf_name):
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return "output.weight"
    layer, module = hf_name[len("model.layers."):-len(".weight")].split(".", 1)
    return f"blk.{layer}.{GGUF_NAMES[module]}.weight"


def write_llama(path, hf, n_layers, n_heads, n_kv_heads, head_dim, f16, keys):
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_name("are test " + os.path.basename(path))
    w.add_block_count(n_layers)
    w.add_context_length(64)
    w.add_embedding_length(hf["model.norm.weight"].shape[0])
    w.add_feed_forward_length(hf["model.layers.0.mlp.up_proj.weight"].shape[0])
    w.add_head_count(n_heads)
    w.add_layer_norm_rms_eps(1e-6)
    if "head_count_kv" in keys:
        w.add_head_count_kv(n_kv_heads)
    if "freq_base" in keys:
        w.add_rope_freq_base(500000.0)
    if "key_length" in keys:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if "tokens" in keys:
        vocab = hf["model.embed_tokens.weight"].shape[0]
        w.add_tokenizer_model("llama")
        w.add_token_list([f"<t{i}>" for i in range(vocab)])
    for name, x in hf.items():
        if name.endswith("q_proj.weight"):
            x = permute(x, n_heads)
        elif name.endswith("k_proj.weight"):
            x = permute(x, n_kv_heads)
        if f16 and x.ndim == 2:
            x = x.astype(np.float16)
        w.add_tensor(gguf_name(name), x)
    finish(w)


def write_fuzz_seeds(rng):
    corpus = os.path.join(HERE, "..", "fuzz", "corpus", "gguf")
    os.makedirs(corpus, exist_ok=True)
    with open(os.path.join(OUT, "gguf_llama_tied.gguf"), "rb") as f:
        tied = f.read()
    for name, data in [("tied.gguf", tied), ("tied_truncated.gguf", tied[:700])]:
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(data)
    w = gguf.GGUFWriter(os.path.join(corpus, "vocab.gguf"), arch="llama")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["a", "b", "ab", "\u2581c"])
    w.add_token_scores([0.0, -1.0, -2.0, -3.5])
    w.add_token_types([1, 1, 1, 3])
    w.add_token_merges(["a b"])
    w.add_key_value("t.u8", 7, gguf.GGUFValueType.UINT8)
    w.add_key_value("t.i16", -7, gguf.GGUFValueType.INT16)
    w.add_key_value("t.u64", 2**63, gguf.GGUFValueType.UINT64)
    w.add_key_value("t.f64", 0.5, gguf.GGUFValueType.FLOAT64)
    w.add_key_value("t.bool", True, gguf.GGUFValueType.BOOL)
    w.add_array("t.grid", [[1, 2], [3]])
    w.add_tensor("q4", random_blocks(rng, T.Q4_0, 1, 32), raw_dtype=T.Q4_0)
    w.add_tensor("q6", random_blocks(rng, T.Q6_K, 1, 256), raw_dtype=T.Q6_K)
    finish(w)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    write_quants(rng)

    hf_all = {}
    gqa = random_llama(rng, vocab=32, dim=16, ffn=24, n_layers=2, n_heads=4, n_kv_heads=2,
                       head_dim=6, tied=False)
    write_llama(os.path.join(OUT, "gguf_llama_gqa.gguf"), gqa, 2, 4, 2, 6, False,
                {"head_count_kv", "freq_base", "key_length"})
    hf_all.update({"gqa." + k: v for k, v in gqa.items()})

    tied = random_llama(rng, vocab=24, dim=16, ffn=16, n_layers=1, n_heads=2, n_kv_heads=2,
                        head_dim=8, tied=True)
    tied = {k: (v.astype(np.float16).astype(np.float32) if v.ndim == 2 else v)
            for k, v in tied.items()}
    write_llama(os.path.join(OUT, "gguf_llama_tied.gguf"), tied, 1, 2, 2, 8, True, {"tokens"})
    hf_all.update({"tied." + k: v for k, v in tied.items()})

    save_file(hf_all, os.path.join(OUT, "gguf_llama_hf.safetensors"))
    write_fuzz_seeds(rng)


if __name__ == "__main__":
    main()
