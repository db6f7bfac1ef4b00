"""Makes tests/ref/fixtures/smollm2/expect.json: what the Python stack computes with the real chat
model SmolLM2-135M-Instruct (the GGUF that scripts/fetch-smollm2.sh puts in
models/smollm2-135m-instruct/), the truth for tests/test_smollm2.c. The C test never runs Python;
run this only to regenerate (README.md). Nothing in it is random: reruns write the same bytes.

  texts    token ids of a varied text set (English, code, numbers, Unicode, whitespace runs, a
           byte the vocabulary lacks, ChatML with special tokens), no BOS (the GGUF adds none),
           from the `tokenizers` package set up as SmolLM2's own tokenizer.json is: Digits
           (each digit alone), then ByteLevel with GPT-2's regex, BPE with the GGUF's vocabulary
           and merges, <|endoftext|> (the GGUF's unknown_token_id) for bytes without a token,
           the 17 control tokens matched in the text. That is the pipeline llama.cpp's
           tokenizer.ggml.pre = "smollm" names. transformers' own tokenizer from the GGUF (4.46)
           leaves the Digits step out; where that changes the ids the text is marked
           "transformers_gguf_differs" (the ids kept are the official pipeline's).
  prompts  three ChatML prompts (the template below), each with its ids, and what
           transformers' LlamaForCausalLM loaded from the same GGUF (gguf_file=, the weights
           dequantized by the gguf package, exactly the fp32 values the engine reads) computes
           in float64: the last position's 50 largest logits (ids and values) with the full
           vector's argmax and logsumexp, hidden_states[l] of the last token at LAYERS (HF
           indexing: 30 is after the final norm), and the greedy continuation (argmax at every
           step, at most MAX_NEW_TOKENS, ending at EOS <|im_end|> when it comes) with its text
           (special tokens dropped). The script stops when a greedy step hinges on a margin
           under MIN_MARGIN, so fp32 rounding in the engine cannot flip a token.

transformers 4.46 does not tie lm_head to the embedding when a GGUF has no output.weight (it
would draw a random head); the model is loaded with tie_word_embeddings=True, as llama.cpp and
SmolLM2's config.json have it, and the script checks the tie.

Its own venv, beside .venv-ref (whose transformers 4.40.2 predates gguf_file=): transformers
4.46.3 loads GGUF files and runs on Debian's torch 1.13, but its generate() imports
torch.distributed.fsdp, which fails there, so the greedy loop here is the script's own.

    /usr/bin/python3 -m venv --system-site-packages .venv-smol
    .venv-smol/bin/pip install transformers==4.46.3 tokenizers==0.20.3 accelerate==0.29.3 \
        gguf==0.19.0
    .venv-smol/bin/python tests/ref/make_smollm2_fixtures.py
"""

import importlib.metadata
import json
import math
import os
import sys

import gguf
import tokenizers
import torch
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL_DIR = os.path.join(ROOT, "models", "smollm2-135m-instruct")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(HERE, "fixtures", "smollm2", "expect.json")

TEMPLATE = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
SYSTEM_CHAT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello! How can I help?"
    "<|im_end|>\n"
)
TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    " leading space, and  two  spaces, and trailing space ",
    "Line one\nLine two\n\n\tIndented with a tab\r\nWindows line end",
    "I'm sure you'll see it's what they've said: DON'T shout, we'd REALLY rather not.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 40))  # 42\n",
    "for (int i = 0; i < n; i++) { sum += x[i] * 0.5f; }",
    '{"key": [1, 2.5e-3, -17], "url": "https://example.com/a?b=c&d=e"}',
    "3.14159 2024-06-01 1,000,000 $19.99 50% 0x1F 1e10 a1b2c3",
    "a  1 b   22 c\t333 d\n4444",
    "Café naïve résumé façade jalapeño Ærøskøbing Straße",
    "日本語のテキスト、中文文本，한국어 텍스트",
    "Здравствуй, мир! Γειά σου Κόσμε! مرحبا بالعالم שלום עולם",
    "Emoji: 🙂🚀👩‍💻 🇫🇷 and symbols: ∑∫√∞ ≤≥ → ½ ² ¾ ① ٣",
    "control \u0004 byte and \u001d group separator",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    SYSTEM_CHAT,
    "special tokens inside text: <|endoftext|><repo_name>x<file_sep>",
    "<|im_start|>assistant\n<|im_end|>",
    "      ",
]
PROMPTS = [
    "What is the capital of France?",
    "Give me two tips for sleeping better.",
    "Write a Python function that returns the square of a number.",
]
LAYERS = [1, 15, 30]
TOP_K = 50
MAX_NEW_TOKENS = 20
MIN_MARGIN = 0.05


def gguf_vocabulary(reader):
    """Tokens, merges, token types, pre-tokenizer name and EOS id of a GGUF's tokenizer
    metadata (make_qwen2_gguf_fixture.py reads its file with this too)."""
    fields = reader.fields

    def strings(key):
        f = fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    types_field = fields["tokenizer.ggml.token_type"]
    return dict(
        tokens=strings("tokenizer.ggml.tokens"),
        merges=strings("tokenizer.ggml.merges"),
        types=[int(types_field.parts[i][0]) for i in types_field.data],
        pre=bytes(fields["tokenizer.ggml.pre"].parts[-1]).decode(),
        eos=gguf_scalar(reader, "tokenizer.ggml.eos_token_id"),
    )


def gguf_scalar(reader, key):
    f = reader.fields[key]
    return int(f.parts[f.data[0]][0])


def read_vocabulary(path):
    """gguf_vocabulary with the unknown token's id; the model must be tied."""
    reader = gguf.GGUFReader(path)
    assert "output.weight" not in {t.name for t in reader.tensors}, "expected a tied model"
    return dict(gguf_vocabulary(reader), unk=gguf_scalar(reader, "tokenizer.ggml.unknown_token_id"))


def official_tokenizer(v):
    """SmolLM2's tokenizer.json pipeline over the GGUF's vocabulary (see the module text)."""
    assert v["pre"] == "smollm", v["pre"]
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=v["tokens"][v["unk"]]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    control = gguf.TokenType.CONTROL
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False)
         for t, kind in zip(v["tokens"], v["types"]) if kind == control]
    )
    return tok


def tokenize_texts(official, hf_tokenizer, texts, unk=None):
    """Each text's ids from the official pipeline, marked where transformers' differ."""
    rows = []
    for text in texts:
        ids = official.encode(text, add_special_tokens=False).ids
        if unk not in ids:  # the pipeline is lossless where every byte has a token
            assert official.decode(ids, skip_special_tokens=False) == text, text
        hf_ids = hf_tokenizer(text, add_special_tokens=False).input_ids
        row = {"text": text, "ids": ids}
        if hf_ids != ids:
            row["transformers_gguf_differs"] = True
            print(f"  transformers' GGUF tokenizer differs on {text!r}")
        rows.append(row)
    return rows


def rounded(values):
    """float32-precision values, written short and the same on every run."""
    return [float(f"{float(x):.9g}") for x in values]


def greedy(model, ids, eos):
    """Greedy continuation through the KV cache, and the smallest top-1 / top-2 margin."""
    out, smallest = [], math.inf
    past, step_ids = None, torch.tensor([ids])
    for _ in range(MAX_NEW_TOKENS):
        res = model(step_ids, past_key_values=past, use_cache=True)
        past = res.past_key_values
        top2 = torch.topk(res.logits[0, -1], 2)
        smallest = min(smallest, float(top2.values[0] - top2.values[1]))
        token = int(top2.indices[0])
        out.append(token)
        if token == eos:
            break
        step_ids = torch.tensor([[token]])
    return out, smallest


def run_prompt(model, official, template, layers, prompt, eos):
    """What the fixture records of one prompt in template (see the module text)."""
    ids = official.encode(template.replace("{prompt}", prompt), add_special_tokens=False).ids
    res = model(torch.tensor([ids]), output_hidden_states=True)
    logits = res.logits[0, -1]
    top = torch.topk(logits, TOP_K)
    continuation, margin = greedy(model, ids, eos)
    if margin < MIN_MARGIN:
        sys.exit(f"prompt {prompt!r}: a greedy step has margin {margin:.4g} < {MIN_MARGIN}")
    text = official.decode(continuation, skip_special_tokens=True)
    print(f"  {prompt!r}: {len(ids)} ids, greedy margin >= {margin:.3f}: {text!r}")
    return {
        "prompt": prompt,
        "ids": ids,
        "top_ids": [int(i) for i in top.indices],
        "top_logits": rounded(top.values),
        "argmax": int(torch.argmax(logits)),
        # in float64 whatever the model's precision
        "logsumexp": float(f"{float(torch.logsumexp(logits.double(), 0)):.12g}"),
        "hidden": [rounded(res.hidden_states[layer][0, -1]) for layer in layers],
        "greedy": continuation,
        "greedy_text": text,
        "greedy_min_margin": round(margin, 4),
    }


def write_fixture(out, gguf_name, eos, template, layers, texts, prompts):
    """The fixture as JSON, with the versions of the packages that made it."""
    fixture = {
        "model": gguf_name,
        "made_with": {
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
            "gguf": importlib.metadata.version("gguf"),
        },
        "eos": eos,
        "template": template,
        "layers": layers,
        "texts": texts,
        "prompts": prompts,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


def main():
    path = os.path.join(MODEL_DIR, GGUF_NAME)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/fetch-smollm2.sh")
    torch.set_num_threads(1)  # one summation order: reruns give the same bytes
    v = read_vocabulary(path)
    official = official_tokenizer(v)
    hf_tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF_NAME)
    texts = tokenize_texts(official, hf_tokenizer, TEXTS, v["unk"])

    model = AutoModelForCausalLM.from_pretrained(
        MODEL_DIR, gguf_file=GGUF_NAME, torch_dtype=torch.float32, tie_word_embeddings=True
    )
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    model = model.double().eval()
    with torch.no_grad():
        prompts = [run_prompt(model, official, TEMPLATE, LAYERS, p, v["eos"]) for p in PROMPTS]
    write_fixture(OUT, GGUF_NAME, v["eos"], TEMPLATE, LAYERS, texts, prompts)


if __name__ == "__main__":
    main()
