"""One ARE round on SmolLM2-135M-Instruct with the published code's stack: transformers + PEFT,
batch 1, representations from output_hidden_states. The Python side of
bench/bench_smollm2_round.sh; bench/smollm2_round.cfg is the same work for `are run`.

  round 0: representations of every prompt (train and test) with the base model, a fresh MLP
           discriminator fitted on the train split
  round 1: one generator epoch (LoRA trained at batch 1 so that the frozen discriminator says
           the target label for every train prompt), representations again, a fresh
           discriminator fitted and scored on both splits

It mirrors ARE.md's description of the published loop: a loop over prompts, one at a time,
model(ids, output_hidden_states=True) under no_grad for extraction, the last prompt token's
hidden_states at LAYERS concatenated; a PEFT LoRA (rank 8, alpha 8, up_proj/down_proj of
LORA_BLOCKS) trained with Adam (lr 1e-4, eps 1e-2) on CE(D(R(x)), target) per prompt; an MLP
discriminator (F -> 512 -> ReLU -> 2) fitted with Adam (lr 1e-3, eps 1e-3) for 30 epochs of
batch 64. Where the published code does needless work that is not the method's (a KV cache
nobody reads), it is turned off: use_cache=False, so the ratio is if anything in Python's favour.

Prompts are tokenized exactly as `are` does (ChatML, no BOS, SmolLM2's official pipeline from
tests/ref/make_smollm2_fixtures.py), the model is the same GGUF dequantized to fp32.

Prints one line per phase and, last, "result name=value ...": the seconds of each phase (round
0's with the suffix _0), the load time and the peak RSS in MiB (ru_maxrss of this process).

  .venv-smol/bin/python bench/smollm2_round.py --data PROMPTS.jsonl --threads 2
"""

import argparse
import json
import os
import resource
import sys
import time

import torch
import transformers
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
from make_smollm2_fixtures import (  # noqa: E402
    GGUF_NAME, MODEL_DIR, TEMPLATE, official_tokenizer, read_vocabulary)

LAYERS = [10, 11, 12, 13, 14]  # hidden_states indices (0 = embeddings): smollm2_round.cfg's
LORA_BLOCKS = [8, 9, 10, 11, 12]
TARGET_LABEL = 0


def load_prompts(path, tokenizer):
    """Token ids, labels and splits of a JSONL prompt set, the template applied."""
    ids, labels, is_test = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            text = TEMPLATE.replace("{prompt}", row["prompt"])
            ids.append(torch.tensor([tokenizer.encode(text, add_special_tokens=False).ids]))
            labels.append(int(row["label"]))
            is_test.append(row["split"] == "test")
    return ids, torch.tensor(labels), torch.tensor(is_test)


def representation(model, ids):
    """[1, len(LAYERS) * d]: the last token's hidden states at LAYERS, concatenated."""
    out = model(input_ids=ids, output_hidden_states=True, use_cache=False)
    return torch.cat([out.hidden_states[l][:, -1, :] for l in LAYERS], dim=-1)


def extract(model, ids):
    """[n, F] representations of every prompt, one prompt per forward."""
    with torch.no_grad():
        return torch.cat([representation(model, x) for x in ids])


def fit_discriminator(H_train, y_train, H_test, y_test, seed):
    """A fresh MLP fitted on the train split; returns it and its train and test accuracy."""
    torch.manual_seed(seed)
    d = torch.nn.Sequential(
        torch.nn.Linear(H_train.shape[1], 512), torch.nn.ReLU(), torch.nn.Linear(512, 2)
    )
    opt = torch.optim.Adam(d.parameters(), lr=1e-3, eps=1e-3)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(H_train, y_train), batch_size=64, shuffle=True
    )
    for _ in range(30):
        for h, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(d(h), y).backward()
            opt.step()
    with torch.no_grad():
        acc_train = (d(H_train).argmax(-1) == y_train).float().mean().item()
        acc_test = (d(H_test).argmax(-1) == y_test).float().mean().item()
    for p in d.parameters():
        p.requires_grad_(False)
    return d, acc_train, acc_test


def generator_epoch(model, d, train_ids, seed):
    """One epoch at batch 1 over the train prompts, shuffled; returns the mean loss."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4, eps=1e-2)
    target = torch.tensor([TARGET_LABEL])
    order = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(seed))
    total = 0.0
    for i in order.tolist():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(d(representation(model, train_ids[i])), target)
        loss.backward()
        opt.step()
        total += loss.item()
    return total / len(train_ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="JSONL prompts with label and split")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    start = time.perf_counter()
    path = os.path.join(MODEL_DIR, GGUF_NAME)
    tokenizer = official_tokenizer(read_vocabulary(path))
    model = AutoModelForCausalLM.from_pretrained(
        MODEL_DIR, gguf_file=GGUF_NAME, torch_dtype=torch.float32, tie_word_embeddings=True
    )
    lora = LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, bias="none",
                      target_modules=["up_proj", "down_proj"], layers_to_transform=LORA_BLOCKS)
    model = get_peft_model(model, lora).eval()
    ids, labels, is_test = load_prompts(args.data, tokenizer)
    train_ids = [x for x, t in zip(ids, is_test) if not t]
    result = {"load": time.perf_counter() - start}
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    tokens = sum(x.shape[1] for x in ids)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {len(ids)} prompts ({len(train_ids)} train), "
          f"{tokens} tokens; LoRA {trainable} parameters", flush=True)

    def timed(name, fn):
        t0 = time.perf_counter()
        value = fn()
        result[name] = time.perf_counter() - t0
        print(f"{name:20s} {result[name]:8.2f} s", flush=True)
        return value

    def split(H):
        return H[~is_test], labels[~is_test], H[is_test], labels[is_test]

    H = timed("extract_0", lambda: extract(model, ids))
    d, _, _ = timed("discriminator_0", lambda: fit_discriminator(*split(H), args.seed))
    loss = timed("generator", lambda: generator_epoch(model, d, train_ids, args.seed))
    H = timed("extract", lambda: extract(model, ids))
    _, acc_train, acc_test = timed(
        "discriminator", lambda: fit_discriminator(*split(H), args.seed + 1))
    print(f"generator loss {loss:.4f}; fresh D accuracy train {acc_train:.3f} test {acc_test:.3f}")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB
    print("result " + " ".join(f"{k}={v:.4f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
