"""Makes tests/ref/fixtures/hf_tiny*: a tiny Hugging Face model folder and what transformers and
PEFT compute with it, the truth for tests/test_hf_model.c, tests/test_peft.c and
tests/test_commands.sh. The C tests never run Python; run this only to regenerate (README.md).

  hf_tiny/          a random LlamaForCausalLM saved by save_pretrained (BF16 safetensors),
                    with a SentencePiece-style BPE tokenizer (byte fallback) trained here
  hf_tiny_sharded/  the same model saved with max_shard_size: shards plus the index json
  hf_tiny_lora/     a PEFT LoRA adapter (get_peft_model + save_pretrained) with random B
  hf_tiny_expect/   logits.safetensors: input.tokens [T], expect.logits [T, vocab] without and
                    expect.logits_lora [T, vocab] with the adapter (float32 HF forward);
                    tokenize.txt with tokenize.ids / tokenize_bos.ids (the tokenizer's ids);
                    template.txt, system.txt, prompt.txt with generate_prompt.ids (the filled
                    template, encoded), generate.ids (transformers' greedy generate()) and
                    generate.out (the bytes those tokens print, as `are generate` streams
                    them), generate_lora.ids / .out the same with the adapter;
                    parameters.txt (the parameter count)
"""

import json
import os
import shutil
import sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
MODEL = os.path.join(FIXTURES, "hf_tiny")
SHARDED = os.path.join(FIXTURES, "hf_tiny_sharded")
LORA = os.path.join(FIXTURES, "hf_tiny_lora")
EXPECT = os.path.join(FIXTURES, "hf_tiny_expect")

SPECIALS = ["<unk>", "<s>", "</s>"]
CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a model reads the text and writes the next word",
    "what is the colour of the sky on a clear day",
    "the sky is blue and the sea is blue too",
    "please answer the question in one short sentence",
    "hello world, this is a tiny test of the tokenizer",
    "we train the model on text and then we test it",
    "numbers like 12 and 345 are split into pieces",
] * 4
TOKENIZE_TEXT = " Hello  world!\nThe café serves naïve 日本 tea, 42 cups.\n"
TEMPLATE = "System: {system}\nUser: {prompt}\nAssistant:"
SYSTEM = "Be brief."
PROMPT = "What is the colour of the sky?"
MAX_NEW_TOKENS = 12
LORA_ARGS = dict(
    r=4,
    lora_alpha=8,
    target_modules=["q_proj", "k_proj", "o_proj", "up_proj", "down_proj"],
    layers_to_transform=[1],
    lora_dropout=0.0,
    bias="none",
)


def make_tokenizer():
    """A Llama-2-style tokenizer.json: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, then
    BPE pieces learned from CORPUS; "▁" for spaces, a "▁" prepended to the text."""
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    # Training splits before each "▁" so that pieces stay inside words, as SentencePiece's do.
    trainer_tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    trainer = trainers.BpeTrainer(vocab_size=100, show_progress=False, special_tokens=[])
    trainer_tok.train_from_iterator(CORPUS, trainer)
    learned = json.loads(trainer_tok.to_str())["model"]

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(piece, len(vocab))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in learned["merges"]]

    tok = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    )
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    tok.add_special_tokens(SPECIALS)
    fast = LlamaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        add_bos_token=True,
        add_eos_token=False,
        model_max_length=64,
    )
    fast.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    return fast


def make_model(vocab_size, seed):
    """A random Llama large enough in its weights that greedy choices have clear margins."""
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="eager",
    )
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name == "model.embed_tokens.weight":
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    return model.to(torch.bfloat16)


def piece_bytes(tokenizer, token_id):
    """The bytes a token adds to the text: "▁" is a space, <0xXX> is that byte."""
    piece = tokenizer.convert_ids_to_tokens(token_id)
    if piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
        return bytes([int(piece[3:5], 16)])
    return piece.replace("▁", " ").encode()


def normalize_adapter_config(path):
    """PEFT writes target_modules from a set (in hash order) and the base model's absolute path;
    fixed values make a rerun byte-identical."""
    with open(path) as f:
        config = json.load(f)
    config["target_modules"] = sorted(config["target_modules"])
    config["base_model_name_or_path"] = "hf_tiny"
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)


def write_text(name, text):
    with open(os.path.join(EXPECT, name), "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode())


def write_ids(name, ids):
    write_text(name, " ".join(str(i) for i in ids) + "\n")


def check_margins(scores):
    """Greedy decoding must not hinge on a near tie that float32 rounding could flip."""
    for step, row in enumerate(scores):
        top = torch.topk(row[0].double(), 2).values
        gap = (top[0] - top[1]).item()
        if gap < 1e-2:
            sys.exit(f"greedy step {step}: top-2 logit gap {gap:.2e} is too small; change the seed")


def greedy(model, tokenizer, prompt_ids, name):
    """transformers' greedy generate(): the new ids into NAME.ids and the bytes `are generate`
    prints for them into NAME.out."""
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.tensor([prompt_ids]),
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=False,
            eos_token_id=2,
            pad_token_id=2,
            output_scores=True,
            return_dict_in_generate=True,
        )
    check_margins(out.scores)
    new_ids = out.sequences[0, len(prompt_ids) :].tolist()
    write_ids(f"{name}.ids", new_ids)
    printed = b"".join(piece_bytes(tokenizer, i) for i in new_ids if i != 2)
    write_text(f"{name}.out", printed + b"\n")
    return new_ids


def main():
    for folder in (MODEL, SHARDED, LORA, EXPECT):
        shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(EXPECT)

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=2024)
    model.save_pretrained(MODEL, safe_serialization=True)
    model.save_pretrained(SHARDED, safe_serialization=True, max_shard_size="30KB")
    tokenizer.save_pretrained(MODEL)

    # The reference reads the saved folder back, as a user of transformers would.
    hf = LlamaForCausalLM.from_pretrained(MODEL, torch_dtype=torch.float32).eval()
    write_text("parameters.txt", f"{sum(p.numel() for p in hf.parameters())}\n")

    write_text("tokenize.txt", TOKENIZE_TEXT)
    write_ids("tokenize.ids", tokenizer(TOKENIZE_TEXT, add_special_tokens=False).input_ids)
    write_ids("tokenize_bos.ids", tokenizer(TOKENIZE_TEXT).input_ids)

    input_ids = tokenizer("the sky is blue, the sea").input_ids
    tokens = torch.tensor([input_ids])
    prompt_text = TEMPLATE.replace("{system}", SYSTEM).replace("{prompt}", PROMPT)
    prompt_ids = tokenizer(prompt_text).input_ids
    write_text("template.txt", TEMPLATE)
    write_text("system.txt", SYSTEM)
    write_text("prompt.txt", PROMPT)
    write_ids("generate_prompt.ids", prompt_ids)
    with torch.no_grad():
        logits = hf(tokens).logits[0]
    new_ids = greedy(hf, tokenizer, prompt_ids, "generate")

    torch.manual_seed(7)
    peft_model = get_peft_model(hf, LoraConfig(**LORA_ARGS)).eval()
    gen = torch.Generator().manual_seed(99)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        logits_lora = peft_model(tokens).logits[0]
    lora_ids = greedy(peft_model, tokenizer, prompt_ids, "generate_lora")
    if lora_ids == new_ids:
        sys.exit("the adapter does not change the greedy continuation; change its seed")
    peft_model.create_or_update_model_card = lambda *args: None  # a README needs Jinja2
    peft_model.save_pretrained(LORA)
    normalize_adapter_config(os.path.join(LORA, "adapter_config.json"))

    save_file(
        {
            "input.tokens": torch.tensor(input_ids, dtype=torch.int32),
            "expect.logits": logits.contiguous(),
            "expect.logits_lora": logits_lora.contiguous(),
        },
        os.path.join(EXPECT, "logits.safetensors"),
    )
    print(f"vocab {len(tokenizer)}, prompt {len(prompt_ids)} tokens")
    print(f"greedy {new_ids}, with LoRA {lora_ids}")


if __name__ == "__main__":
    main()
