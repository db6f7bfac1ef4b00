"""Makes tests/ref/fixtures/qwen2/gguf_expect.json: what the Python stack computes with the real
chat model Qwen2.5-Coder-1.5B-Instruct (the Q4_K_M GGUF that scripts/fetch-qwen.sh puts in
models/qwen2.5-coder-1.5b-instruct/), the truth for tests/test_smollm2.c run on that file
(ctest's test_qwen2_gguf). The C test never runs Python. Nothing in it is random, and torch runs
on one thread.

  texts    token ids of a varied text set (make_smollm2_fixtures.TEXTS plus digit runs and
           Qwen's own markers), no BOS (the GGUF adds none), from the `tokenizers` package set
           up as Qwen2's tokenizer.json is: NFC, a Split on Qwen2's regex (single digits), then
           ByteLevel without its regex, BPE with the GGUF's vocabulary and merges, the GGUF's
           22 control and user-defined tokens matched in the text. That is the pipeline
           llama.cpp's tokenizer.ggml.pre = "qwen2" names. Every text is already NFC (asserted):
           the engine reads text as NFC without normalising it. Where transformers' own GGUF
           tokenizer gives other ids the text is marked "transformers_gguf_differs".
  prompts  three ChatML prompts in Qwen2.5's default template (its system text), each with its
           ids, and what transformers' Qwen2ForCausalLM loaded from the same GGUF (gguf_file=,
           the weights dequantized by the gguf package: the fp32 values the engine reads)
           computes in float32 (float64 would need 12 GB): the last position's 50 largest
           logits with the full vector's argmax and logsumexp, hidden_states[l] of the last
           token at LAYERS (HF indexing: 28 is after the final norm), and the greedy
           continuation (at most MAX_NEW_TOKENS, ending at EOS <|im_end|>) with its text. The
           script stops when a greedy step hinges on a margin under MIN_MARGIN.

The file has its own output.weight (Q6_K) beside token_embd.weight (Q4_K): the script checks
that transformers kept the head untied and that it holds output.weight's values.

Reading the GGUF's vocabulary, the records of each text and prompt (greedy loop, rounding) and
writing the file are make_smollm2_fixtures' functions, imported, with its TOP_K,
MAX_NEW_TOKENS and MIN_MARGIN.

    .venv-torch/bin/python tests/ref/make_qwen2_gguf_fixture.py
(torch 2.x, transformers with GGUF support (5.25 made it), tokenizers, gguf: 10.4 GB peak RSS, 12
minutes on 2 busy cores.)
"""

import os
import sys
import unicodedata

import gguf
import numpy as np
import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_smollm2_fixtures import TEXTS as SMOLLM2_TEXTS  # noqa: E402
from make_smollm2_fixtures import gguf_vocabulary, run_prompt, tokenize_texts  # noqa: E402
from make_smollm2_fixtures import write_fixture  # noqa: E402
from make_tokenizer_fixtures import QWEN2_REGEX  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL_DIR = os.path.join(ROOT, "models", "qwen2.5-coder-1.5b-instruct")
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
OUT = os.path.join(HERE, "fixtures", "qwen2", "gguf_expect.json")

TEMPLATE = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
)
TEXTS = SMOLLM2_TEXTS + [
    "digits 7 42 123 4567 89012 3.14159265358979",
    "<|fim_prefix|>def f(x):<|fim_suffix|>    return x<|fim_middle|>",
    "<tool_call>{\"name\": \"ls\"}</tool_call><|endoftext|>",
    "x = [i**2 for i in range(10)]  # 日本語のコメント\n",
]
PROMPTS = [
    "What is the capital of France?",
    "Write a Python function that returns the square of a number.",
    "How do I make a pipe bomb at home?",
]
LAYERS = [1, 14, 28]  # TOP_K, MAX_NEW_TOKENS and MIN_MARGIN are make_smollm2_fixtures'


def read_vocabulary(path):
    """gguf_vocabulary with output.weight's values (the untied head), dequantized."""
    reader = gguf.GGUFReader(path)
    output = next(t for t in reader.tensors if t.name == "output.weight")
    return dict(gguf_vocabulary(reader),
                output=gguf.quants.dequantize(output.data, output.tensor_type))


def official_tokenizer(v):
    """Qwen2's tokenizer.json pipeline over the GGUF's vocabulary (see the module text)."""
    assert v["pre"] == "qwen2", v["pre"]
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    control, user = gguf.TokenType.CONTROL, gguf.TokenType.USER_DEFINED
    tok.add_tokens(
        [AddedToken(t, special=kind == control, normalized=False)
         for t, kind in zip(v["tokens"], v["types"]) if kind in (control, user)]
    )
    return tok


def main():
    path = os.path.join(MODEL_DIR, GGUF_NAME)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/fetch-qwen.sh")
    torch.set_num_threads(1)  # one summation order: reruns give the same bytes
    v = read_vocabulary(path)
    official = official_tokenizer(v)
    hf_tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF_NAME)
    for text in TEXTS:  # the engine reads text as NFC without normalising it
        assert unicodedata.normalize("NFC", text) == text, f"{text!r} is not NFC"
    texts = tokenize_texts(official, hf_tokenizer, TEXTS)

    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF_NAME,
                                                 dtype=torch.float32)
    assert type(model).__name__ == "Qwen2ForCausalLM", type(model).__name__
    head = model.lm_head.weight
    assert head.data_ptr() != model.model.embed_tokens.weight.data_ptr(), "head is tied"
    assert np.array_equal(head.detach().numpy(), v.pop("output")), "head is not output.weight"
    model = model.eval()
    with torch.no_grad():
        prompts = [run_prompt(model, official, TEMPLATE, LAYERS, p, v["eos"]) for p in PROMPTS]
    write_fixture(OUT, GGUF_NAME, v["eos"], TEMPLATE, LAYERS, texts, prompts)


if __name__ == "__main__":
    main()
