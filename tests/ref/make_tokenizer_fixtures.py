#!/usr/bin/env python3
"""Writes the tokenizer fixtures under tests/ref/fixtures/tokenizers/: small BPE vocabularies
trained with Hugging Face `tokenizers` in the shapes that Llama-family checkpoints use, and what
`tokenizers` makes of some texts with them (the truth for tests/test_tokenizer.c):

  llama3/        byte-level, Split(Llama-3 regex) + ByteLevel, ignore_merges, BOS by template,
                 with a tokenizer_config.json that names BOS and EOS
  gpt2/          byte-level, ByteLevel with GPT-2's regex, an added (non-special) token
  smollm/        byte-level, Digits(individual) + ByteLevel
  spm_legacy/    byte fallback, normalizer Prepend("▁") + Replace(" ", "▁") (Llama-2's)
  spm_metaspace/ byte fallback, Metaspace(prepend_scheme="first", split=False)
  spm_split/     byte fallback, Metaspace(prepend_scheme="always", split=True), an lstrip token,
                 ignore_merges
  cases.json     per vocabulary: texts, their ids without and with special tokens, and the
                 decoding (except for Metaspace decoders, which drop every "▁" of the first
                 token where llama.cpp and tokenizer.h drop one space)
  pretokenizer_splits.json  random texts cut by the four pre-tokenizer regexes alone
  bad_*.gguf     GGUF vocabularies that must be refused (written with the gguf package)
and copies the tokenizer.json files into tests/fuzz/corpus/tokenizer_json/ as fuzz seeds.

usage: .venv-ref/bin/python tests/ref/make_tokenizer_fixtures.py [--splits-and-ggufs]
(--splits-and-ggufs: pretokenizer_splits.json and bad_*.gguf only, the vocabularies untouched)
"""
import json
import os
import random
import shutil

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # single-threaded training: the same result

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "tokenizers")
FUZZ_CORPUS = os.path.join(HERE, "..", "fuzz", "corpus", "tokenizer_json")

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 2024, and they'll say we're done.",
    "Hello world! Hello, World? hello... HELLO; I've been told he's there, 'RE you sure?",
    "Numbers: 1234567890 3.14159 2,718 +42 -7 100% $5 1st 2nd 3rd",
    "Tabs\tand\nnew lines\r\n  indented\n\n\nblank lines    and   spaces",
    "naïve café résumé ünïcödé — “quotes” ‘single’ …",
    "Привет мир, это тест. Γειά σου κόσμε. 日本語のテキストです。",
    "def main():\n    return x + y * 2  # comment\n",
] * 20

TEXTS = [
    "Hello world",
    " Hello  world ",
    "I'm sure they'll say it's 12345 o'clock",
    "We'Ve a'lL DON'T 'S",
    "tab\tand\nnewline\r\n  \n end",
    "naïve café — ünïcödé",
    "日本語のテキスト and 中文",
    "emoji 🦙🚀 done",
    "3.14159 + 2,718 = 5.86",
    "   ",
    "\n\n\n",
    "a",
    "",
    " leading space",
    "trailing space ",
    "    four spaces\n    indented",
]


def byte_level_trainer(specials):
    return trainers.BpeTrainer(vocab_size=420, min_frequency=2, special_tokens=specials,
                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                               show_progress=False)


def make_llama3():
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    tok.train_from_iterator(CORPUS, byte_level_trainer(specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", 0)])
    config = {"bos_token": "<|begin_of_text|>",
              "eos_token": {"content": "<|eot_id|>", "special": True}}
    return tok, config, ["<|begin_of_text|>Hi<|end_of_text|>", "x<|eot_id|>y z",
                         "a <|begin_of_text|> b"]


def make_gpt2():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, byte_level_trainer(["<|endoftext|>"]))
    tok.add_tokens([AddedToken("<tool>", special=False)])
    return tok, None, ["call <tool> now<|endoftext|>", "<tool><tool>"]


def make_smollm():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, byte_level_trainer(["<|endoftext|>", "<|im_start|>"]))
    return tok, None, ["<|im_start|>user 42 apples<|endoftext|>"]


def make_spm(normalizer, pre_tokenizer, decoder, extra_added=(), ignore_merges=False):
    """A Llama-2-like vocabulary: <unk> <s> </s>, the 256 byte tokens, then trained pieces."""
    base = Tokenizer(models.BPE())
    base.normalizer = normalizers.Sequence([normalizers.Replace(" ", "▁")])
    base.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, min_frequency=2,
                                                         show_progress=False))
    trained = json.loads(base.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(piece, len(vocab))
    if ignore_merges:  # whole words that no merge reaches: only ignore_merges finds them
        for piece in ["▁quick", "▁brown"]:
            vocab.setdefault(piece, len(vocab))
    model = models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) if isinstance(m, str) else
                                            tuple(m) for m in trained["merges"]],
                       unk_token="<unk>", byte_fallback=True, fuse_unk=True,
                       ignore_merges=ignore_merges)
    tok = Tokenizer(model)
    if normalizer is not None:
        tok.normalizer = normalizer
    if pre_tokenizer is not None:
        tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoder
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True)
                            for t in ["<unk>", "<s>", "</s>"]])
    for t in extra_added:
        tok.add_tokens([t])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A",
                                                       special_tokens=[("<s>", 1)])
    return tok


SPM_SPECIAL_TEXTS = ["<s>Hello</s>", "Hello <s> world", "x<unk>y", "</s> after"]


def make_spm_legacy():
    tok = make_spm(
        normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]), None,
        decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                           decoders.Strip(" ", 1, 0)]))
    return tok, None, SPM_SPECIAL_TEXTS


def make_spm_metaspace():
    tok = make_spm(None, pre_tokenizers.Metaspace("▁", prepend_scheme="first", split=False),
                   decoders.Sequence([decoders.Metaspace("▁", prepend_scheme="first"),
                                      decoders.ByteFallback(), decoders.Fuse()]))
    return tok, None, SPM_SPECIAL_TEXTS


def make_spm_split():
    tok = make_spm(None, pre_tokenizers.Metaspace("▁", prepend_scheme="always", split=True),
                   decoders.Sequence([decoders.Metaspace("▁", prepend_scheme="always"),
                                      decoders.ByteFallback(), decoders.Fuse()]),
                   extra_added=[AddedToken("<mask>", lstrip=True, special=True)],
                   ignore_merges=True)
    return tok, None, SPM_SPECIAL_TEXTS + ["Hello <mask> there", "a  <mask>b",
                                           "The quick brown fox"]


def write_cases():
    os.makedirs(OUT, exist_ok=True)
    everything = []
    for name, make in [("llama3", make_llama3), ("gpt2", make_gpt2), ("smollm", make_smollm),
                       ("spm_legacy", make_spm_legacy), ("spm_metaspace", make_spm_metaspace),
                       ("spm_split", make_spm_split)]:
        tok, config, special_texts = make()
        metaspace_decoder = "Metaspace" in json.dumps(json.loads(tok.to_str())["decoder"])
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        tok.save(os.path.join(folder, "tokenizer.json"), pretty=False)
        os.makedirs(FUZZ_CORPUS, exist_ok=True)
        shutil.copyfile(os.path.join(folder, "tokenizer.json"),
                        os.path.join(FUZZ_CORPUS, name + ".json"))
        if config:
            # transformers writes this 1e30 "no limit" into real tokenizer configs; it overflows
            # a 64-bit integer, and the loader must still read the file.
            config = dict(config, model_max_length=int(1e30))
            with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
                json.dump(config, f, indent=1)
        cases = []
        for text in TEXTS + special_texts:
            plain = tok.encode(text, add_special_tokens=False).ids
            case = {"text": text, "ids": plain,
                    "ids_with_bos": tok.encode(text, add_special_tokens=True).ids}
            if not metaspace_decoder:
                case["decoded"] = tok.decode(plain, skip_special_tokens=True)
            cases.append(case)
        everything.append({"name": name, "vocab_size": tok.get_vocab_size(with_added_tokens=True),
                           "cases": cases})
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(everything, f, ensure_ascii=False, indent=1)


# Characters that probe the regexes' classes: ASCII of each kind, \r \n \t, U+001C (isspace()
# but not White_Space), U+0085 U+00A0 U+2009 U+3000 (White_Space), Lt Lm Lo letters, a
# combining mark, Nl and No numbers, CJK, emoji, apostrophes in both cases.
ALPHABET = list("aZs tTdDmMlLrReEvV09'!.,-_ ") + ["\t", "\n", "\r", "  ", "\x1c", "\x85", "\xa0",
            "\u2009", "\u3000", "ǅ", "ʰ", "ק", "\u0301", "Ⅻ", "²", "½", "日本", "🦙", "é", "ß",
            "'s", "'S", "'ll", "'Ve", "'re"]


def write_splits():
    rng = random.Random(1234)
    texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 16))) for _ in range(400)]
    splitters = {
        "llama3": pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"),
        "gpt2": pre_tokenizers.Split(Regex(GPT2_REGEX), behavior="isolated"),
        "qwen2": pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
        "smollm": pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                           pre_tokenizers.Split(Regex(GPT2_REGEX),
                                                                behavior="isolated")]),
    }
    splits = {name: [[piece for piece, _ in s.pre_tokenize_str(t)] for t in texts]
              for name, s in splitters.items()}
    with open(os.path.join(OUT, "pretokenizer_splits.json"), "w") as f:
        json.dump(splits, f, ensure_ascii=False, indent=0)


def write_bad_ggufs():
    import gguf

    def write(name, model, tokens, merges=None, pre="gpt-2"):
        w = gguf.GGUFWriter(os.path.join(OUT, name), "llama")
        w.add_tokenizer_model(model)
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        if merges is not None:
            w.add_token_merges(merges)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.close()

    byte_chars = [chr(c) for c in range(0x21, 0x7F)] + [chr(c) for c in range(0xA1, 0xAD)] + [
        chr(c) for c in range(0xAE, 0x100)] + [chr(0x100 + i) for i in range(68)]
    write("bad_model.gguf", "bert", ["a", "b"])
    write("bad_merge.gguf", "gpt2", byte_chars + ["ab"], ["a b", "a zz"])
    write("bad_pre.gguf", "gpt2", byte_chars, [], pre="falcon")


if __name__ == "__main__":
    import sys
    if "--splits-and-ggufs" not in sys.argv[1:]:
        write_cases()
    write_splits()
    write_bad_ggufs()
    print(f"wrote {OUT}")
