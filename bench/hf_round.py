"""One ARE round with transformers + PEFT, in two styles: the published code's (batch 1,
representations from output_hidden_states of the whole model) and a batched one as a good
PyTorch user would write it. The Python side of bench/bench_hf_round.sh; bench/MODEL_round.cfg
is the same work for `are run`.

  round 0: representations of every prompt (train and test) with the base model, a fresh MLP
           discriminator fitted on the train split
  round 1: one generator epoch (LoRA trained so that the frozen discriminator says the target
           label for every train prompt), representations again, a fresh discriminator fitted
           and scored on both splits

--style batch1 mirrors docs/method.md's description of the published loop: a loop over prompts, one at
a time, model(ids, output_hidden_states=True) under no_grad for extraction, the last prompt
token's hidden_states at LAYERS concatenated; a PEFT LoRA (rank 8, alpha 8, up_proj/down_proj
of LORA_BLOCKS) trained with Adam on CE(D(R(x)), target) one prompt a step; an MLP
discriminator (F -> 512 -> ReLU -> 2) fitted with Adam (lr 1e-3, eps 1e-3) for 30 epochs of
batch 64. Where the published code does needless work that is not the method's (a KV cache
nobody reads), it is turned off: use_cache=False, so the ratio is if anything in Python's favour.

--style batched is what a good PyTorch user writes: the model truncated after the deepest
captured block (no later blocks, no final norm, no LM head), left-padded batches with an
attention mask and position ids counted from each prompt's first token, extraction at
--extract-batch prompts and generator steps at the model's batch size.

--model picks the model and the settings its bench config uses:
  smollm2  SmolLM2-135M-Instruct Q4_1: hidden_states 10..14, LoRA blocks 8..12, Adam 1e-4/1e-2
           (published), generator batch 1, raw features (bench/smollm2_round.cfg)
  qwen     Qwen2.5-Coder-1.5B-Instruct Q4_K_M: hidden_states 10..13, LoRA blocks 8..11, Adam
           5e-4/1e-8, generator batch 4, standardised features (bench/qwen_round.cfg, issue 19's
           probe)
Prompts are tokenized exactly as `are` does (the model's ChatML template, no BOS, the model's
official pre-tokenizer from tests/ref/make_*_fixtures.py), the model is the same GGUF
dequantized to fp32 by transformers (gguf_file=).

Prints one line per phase and, last, "result name=value ...": the seconds of each phase (round
0's with the suffix _0), the load time and the peak RSS in MiB (ru_maxrss of this process).

  python bench/hf_round.py --model qwen --style batched --data PROMPTS.jsonl --threads 2
"""

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import dataclass

import torch
import transformers
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
TARGET_LABEL = 0


@dataclass
class Setting:
    fixtures: str          # tests/ref module with MODEL_DIR, GGUF_NAME, TEMPLATE, tokenizer
    layers: list           # hidden_states indices (0 = embeddings), as the bench config's
    lora_blocks: list
    lr: float
    eps: float
    batch: int             # generator batch of the batched style
    standardize: bool
    tie: bool              # the GGUF has no output.weight: tie the head explicitly


SETTINGS = {
    "smollm2": Setting("make_smollm2_fixtures", [10, 11, 12, 13, 14], [8, 9, 10, 11, 12],
                       1e-4, 1e-2, 16, False, True),
    "qwen": Setting("make_qwen2_gguf_fixture", [10, 11, 12, 13], [8, 9, 10, 11],
                    5e-4, 1e-8, 4, True, False),
}


def load_prompts(path, tokenizer, template):
    """Token ids (lists), labels and splits of a JSONL prompt set, the template applied."""
    ids, labels, is_test = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            text = template.replace("{prompt}", row["prompt"])
            ids.append(tokenizer.encode(text, add_special_tokens=False).ids)
            labels.append(int(row["label"]))
            is_test.append(row["split"] == "test")
    return ids, torch.tensor(labels), torch.tensor(is_test)


class Batch1:
    """The published style: one prompt a forward through the whole model."""

    def __init__(self, model, layers):
        self.model, self.layers = model, layers

    def representation(self, prompts):
        out = []
        for ids in prompts:
            o = self.model(input_ids=torch.tensor([ids]), output_hidden_states=True,
                           use_cache=False)
            out.append(torch.cat([o.hidden_states[l][:, -1, :] for l in self.layers], dim=-1))
        return torch.cat(out)


class Batched:
    """Left-padded batches through the blocks below the deepest captured state only."""

    def __init__(self, model, layers):
        self.model, self.layers = model, layers
        inner = model.get_base_model().model
        inner.layers = inner.layers[: max(layers)]
        # hidden_states[max(layers)] is then the last block's output; without the final norm
        # it is the raw residual stream, as at every other index.
        inner.norm = torch.nn.Identity()
        self.inner = inner

    def representation(self, prompts):
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        o = self.inner(input_ids=ids, attention_mask=mask, position_ids=positions,
                       output_hidden_states=True, use_cache=False)
        return torch.cat([o.hidden_states[l][:, -1, :] for l in self.layers], dim=-1)


def extract(style, ids, batch):
    """[n, F] representations of every prompt, `batch` prompts a forward."""
    with torch.no_grad():
        return torch.cat([style.representation(ids[i:i + batch])
                          for i in range(0, len(ids), batch)])


def fit_discriminator(H_train, y_train, H_test, y_test, standardize, seed):
    """A fresh MLP (standardising with the train split's statistics when asked) fitted on the
    train split; returns it and its train and test accuracy."""
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(H_train.shape[1], 512), torch.nn.ReLU(), torch.nn.Linear(512, 2)]
    if standardize:
        mean, std = H_train.mean(0), H_train.std(0, unbiased=False).clamp(min=1e-6)
        layers.insert(0, Standardize(mean, std))
    d = torch.nn.Sequential(*layers)
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


class Standardize(torch.nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, h):
        return (h - self.mean) / self.std


def generator_epoch(model, style, d, train_ids, setting, batch, seed):
    """One epoch over the train prompts, shuffled, `batch` a step; returns the mean loss."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=setting.lr, eps=setting.eps)
    order = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(seed))
    total, steps = 0.0, 0
    for i in range(0, len(order), batch):
        prompts = [train_ids[j] for j in order[i:i + batch].tolist()]
        target = torch.full((len(prompts),), TARGET_LABEL)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(d(style.representation(prompts)), target)
        loss.backward()
        opt.step()
        total, steps = total + loss.item(), steps + 1
    return total / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(SETTINGS), default="smollm2")
    ap.add_argument("--style", choices=["batch1", "batched"], default="batch1")
    ap.add_argument("--data", required=True, help="JSONL prompts with label and split")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--extract-batch", type=int, default=16,
                    help="prompts per extraction forward of the batched style")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    setting = SETTINGS[args.model]
    fixtures = __import__(setting.fixtures)

    start = time.perf_counter()
    path = os.path.join(fixtures.MODEL_DIR, fixtures.GGUF_NAME)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run scripts/fetch-model.sh")
    vocabulary = fixtures.read_vocabulary(path)
    vocabulary.pop("output", None)  # qwen's reader dequantizes the head, not needed here
    tokenizer = fixtures.official_tokenizer(vocabulary)
    # transformers renamed torch_dtype to dtype in 4.56; .venv-smol keeps 4.46.3.
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_arg = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    extra = {"tie_word_embeddings": True} if setting.tie else {}
    model = AutoModelForCausalLM.from_pretrained(
        fixtures.MODEL_DIR, gguf_file=fixtures.GGUF_NAME, **{dtype_arg: torch.float32}, **extra
    )
    lora = LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, bias="none",
                      target_modules=["up_proj", "down_proj"],
                      layers_to_transform=setting.lora_blocks)
    model = get_peft_model(model, lora).eval()
    if args.style == "batch1":
        style, extract_batch, gen_batch = Batch1(model, setting.layers), 1, 1
    else:
        style, extract_batch, gen_batch = Batched(model, setting.layers), args.extract_batch, \
            setting.batch
    ids, labels, is_test = load_prompts(args.data, tokenizer, fixtures.TEMPLATE)
    train_ids = [x for x, t in zip(ids, is_test) if not t]
    result = {"load": time.perf_counter() - start}
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.model}, style {args.style} (extraction "
          f"batch {extract_batch}, generator batch {gen_batch}); {len(ids)} prompts "
          f"({len(train_ids)} train), {sum(map(len, ids))} tokens; LoRA {trainable} parameters",
          flush=True)

    def timed(name, fn):
        t0 = time.perf_counter()
        value = fn()
        result[name] = time.perf_counter() - t0
        print(f"{name:20s} {result[name]:8.2f} s", flush=True)
        return value

    def split(H):
        return H[~is_test], labels[~is_test], H[is_test], labels[is_test]

    H = timed("extract_0", lambda: extract(style, ids, extract_batch))
    d, _, _ = timed("discriminator_0",
                    lambda: fit_discriminator(*split(H), setting.standardize, args.seed))
    loss = timed("generator", lambda: generator_epoch(model, style, d, train_ids, setting,
                                                      gen_batch, args.seed))
    H = timed("extract", lambda: extract(style, ids, extract_batch))
    _, acc_train, acc_test = timed(
        "discriminator",
        lambda: fit_discriminator(*split(H), setting.standardize, args.seed + 1))
    print(f"generator loss {loss:.4f}; fresh D accuracy train {acc_train:.3f} test {acc_test:.3f}")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB
    print("result " + " ".join(f"{k}={v:.4f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
