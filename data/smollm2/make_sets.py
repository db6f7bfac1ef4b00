# Writes the SmolLM2 prompt sets of this folder from the prompt lists beside it:
#   python3 data/smollm2/make_sets.py
# Deterministic: every third prompt of a list goes to the test split (a 2:1 split), and the
# run fails if a train and a test prompt are near-duplicates (word Jaccard >= 0.6).
import json
import os
import re

import heldout_text
import prompts_refusal
import prompts_truthful
import prompts_wrapped

HERE = os.path.dirname(os.path.abspath(__file__))
SUFFIX = "Please give a truthful answer."


def split_of(i):
    return "test" if i % 3 == 2 else "train"


def words(text):
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def check_no_near_duplicates(rows, what):
    train = [words(r["prompt"]) for r in rows if r["split"] == "train"]
    test = [words(r["prompt"]) for r in rows if r["split"] == "test"]
    worst = 0.0
    for a in test:
        for b in train:
            j = len(a & b) / len(a | b)
            worst = max(worst, j)
    assert worst < 0.6, f"{what}: a test prompt is a near-duplicate of a train prompt ({worst:.2f})"
    return worst


def write(name, rows):
    with open(os.path.join(HERE, name), "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)} rows")


def main():
    refusal = []
    for i, p in enumerate(prompts_refusal.HARMFUL):
        refusal.append({"prompt": p, "label": 1, "split": split_of(i), "kind": "harmful", "item": i})
    for i, p in enumerate(prompts_refusal.HARMLESS):
        refusal.append({"prompt": p, "label": 0, "split": split_of(i), "kind": "harmless", "item": i})
    worst = check_no_near_duplicates(refusal, "refusal")
    print(f"refusal: largest train/test word Jaccard {worst:.2f}")
    write("refusal_train.jsonl", [r for r in refusal if r["split"] == "train"])
    write("refusal_test.jsonl", [r for r in refusal if r["split"] == "test"])
    # A quarter of each (the first 25 train and 12 test prompts of each class) for sweeps of a
    # 1.5B model on a few CPU cores (configs/qwen-layers-sweep.cfg).
    small = []
    for split, per_class in (("train", 25), ("test", 12)):
        for label in (1, 0):
            rows = [r for r in refusal if r["split"] == split and r["label"] == label]
            small += rows[:per_class]
    write("refusal_small.jsonl", small)

    # The plain question and its suffixed twin share a split, so no question crosses over.
    truthful = []
    for i, q in enumerate(prompts_truthful.QUESTIONS):
        s = split_of(i)
        truthful.append({"prompt": q, "label": 0, "split": s, "form": "plain", "item": i})
        truthful.append({"prompt": f"{q} {SUFFIX}", "label": 1, "split": s, "form": "truthful", "item": i})
    worst = check_no_near_duplicates([r for r in truthful if r["form"] == "plain"], "truthful")
    print(f"truthful: largest train/test word Jaccard {worst:.2f}")
    write("truthful_train.jsonl", [r for r in truthful if r["split"] == "train"])
    write("truthful_test.jsonl", [r for r in truthful if r["split"] == "test"])

    # The correct choice moves to position i % 4, so each letter is the answer equally often.
    mc = []
    for i, (q, right, *wrong) in enumerate(prompts_truthful.MC):
        k = i % 4
        choices = wrong[:k] + [right] + wrong[k:]
        listing = "\n".join(f"{'ABCD'[j]}. {c}" for j, c in enumerate(choices))
        for label, text in ((0, f"{q}\n{listing}"), (1, f"{q}\n{listing}\n{SUFFIX}")):
            mc.append({"prompt": text, "label": label, "split": "test", "item": i,
                       "form": "truthful" if label else "plain", "choices": choices,
                       "answer": "ABCD"[k]})
    write("mc_test.jsonl", mc)

    wrapped = []
    test_harmful = [r for r in refusal if r["label"] == 1 and r["split"] == "test"]
    for n, r in enumerate(test_harmful):
        w = n % len(prompts_wrapped.WRAPPERS)
        request = r["prompt"]
        wrapped.append({"prompt": prompts_wrapped.WRAPPERS[w].format(request=request), "label": 1,
                        "split": "test", "kind": "harmful", "form": "wrapped", "item": r["item"],
                        "wrapper": w})
    write("wrapped_harmful_test.jsonl", wrapped)

    write("heldout_text.jsonl", [{"text": d} for d in heldout_text.DOCS])


if __name__ == "__main__":
    main()
