"""The truth for tests/test_tokenizer_train.c: a tokenizer trained by `are train-tokenizer`
on a small seeded chat corpus, and the ids that Hugging Face `tokenizers` gives with it.

Writes tests/ref/fixtures/tokenizers/trained/: corpus.txt, the tokenizer.json and
tokenizer_config.json that `are` trains from it (the C test retrains and must get the same
bytes), and cases.json, a list of {"text", "ids"} with BOS added as the tokenizer asks.

    .venv-ref/bin/python tests/ref/make_trained_tokenizer_fixture.py build/are
"""

import json
import os
import random
import subprocess
import sys

from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "tokenizers", "trained")
SPECIALS = ["<|user|>", "<|assistant|>", "<|end|>"]  # as the C test passes them
VOCAB_SIZE = 400

SUBJECTS = ["the cat", "my friend", "a robot", "the teacher", "Zoë", "the café owner"]
VERBS = ["likes", "makes", "finds", "needs", "remembers", "explains"]
OBJECTS = ["bread", "a map", "the answer", "old books", "fresh water", "naïve questions"]
REPLIES = ["Sure, here is how.", "Sorry, I cannot help with that.", "Here is a short answer."]


def corpus(rng):
    lines = []
    for _ in range(400):
        question = f"Why {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}?"
        answer = f"{rng.choice(REPLIES)} {rng.choice(SUBJECTS).capitalize()} " \
                 f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}."
        lines.append(f"{SPECIALS[0]}\n{question}{SPECIALS[2]}\n"
                     f"{SPECIALS[1]}\n{answer}{SPECIALS[2]}\n")
    return "".join(lines)


CASES = [
    "Why the cat likes bread?",
    f"{SPECIALS[0]}\nWhy Zoë needs a map?{SPECIALS[2]}\n{SPECIALS[1]}\nSure, here is how.",
    "Unseen words: quixotic zephyrs, 日本語, emoji \U0001F600, tabs\tand\nnewlines.",
    "  leading spaces and trailing ones  ",
    "naïve café questions explained",
]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.makedirs(OUT, exist_ok=True)
    corpus_path = os.path.join(OUT, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write(corpus(random.Random(4)))
    subprocess.run([sys.argv[1], "train-tokenizer", "--input", corpus_path, "--vocab-size",
                    str(VOCAB_SIZE), "--out", OUT, "--special", ",".join(SPECIALS)], check=True)
    tok = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    cases = [{"text": text, "ids": tok.encode(text, add_special_tokens=True).ids}
             for text in CASES]
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
