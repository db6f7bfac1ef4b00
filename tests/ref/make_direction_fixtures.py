"""Makes the direction-ablation fixtures from transformers + PEFT: the truth for the PEFT case of
tests/test_direction.c. The C tests never run Python; run this only to regenerate. Seeded:
reruns write the same bytes.

  direction_tiny/        a random LlamaForCausalLM (float32, 3 layers, 4 query heads over 2 KV
                         heads, the head tied to the embedding), saved by save_pretrained
  direction_tiny_lora/   the ablation of a unit vector r as a PEFT adapter (r 1, lora_alpha 1)
                         on embed_tokens, o_proj and down_proj, made with get_peft_model and
                         saved by save_pretrained (which adds embed_tokens.base_layer.weight):
                           lora_embedding_A = (E r)^T [1, vocab], lora_embedding_B = -r [dim, 1]
                           lora_A = r^T W [1, in],                lora_B = -r [dim, 1]
                         each A summed in float64 and rounded once to float32
  direction_tiny_expect.safetensors
      input.tokens [T], input.r [dim] (float32, unit norm), and from the PEFT model's float32
      forward expect.hidden_states [n_layers + 1, T, dim] (transformers' hidden_states) and
      expect.logits [T, vocab]

The script stops unless, in that forward, the embedding rows are fl(E[t] + fl((E r)[t] * -r))
exactly (PEFT's rounding, which the engine's merged table reproduces), the residual stream
(hidden_states 0..n_layers-1) has no component along r beyond 1e-5 of its norm, and the tied
head still is the base embedding (PEFT leaves lm_head alone).

    .venv-torch/bin/python tests/ref/make_direction_fixtures.py
(torch 2.x, transformers 5, peft 0.21; see tests/ref/README.md.)
"""

import json
import os
import shutil
import sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import FIXTURES, f32, i32  # noqa: E402

TINY = os.path.join(FIXTURES, "direction_tiny")
TINY_LORA = os.path.join(FIXTURES, "direction_tiny_lora")
TINY_EXPECT = os.path.join(FIXTURES, "direction_tiny_expect.safetensors")
TARGETS = ["down_proj", "embed_tokens", "o_proj"]


def random_llama(gen):
    """A tied float32 Llama with make_fixtures.make_model's weight scales."""
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=None,
                         eos_token_id=None, pad_token_id=None, attn_implementation="eager")
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name == "model.embed_tokens.weight":
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
    return model


def ablate(peft_model, r):
    """Sets every adapter to the ablation of r: B = -r, A = r^T W (E r for the embedding)."""
    r64 = r.double()
    inner = peft_model.base_model.model.model
    emb = inner.embed_tokens
    E = emb.base_layer.weight.double()  # [vocab, dim]
    emb.lora_embedding_A["default"].copy_((E @ r64).float()[None, :])
    emb.lora_embedding_B["default"].copy_(-r[:, None])
    for block in inner.layers:
        for lin in (block.self_attn.o_proj, block.mlp.down_proj):
            W = lin.base_layer.weight.double()  # [dim, in]
            lin.lora_A["default"].weight.copy_((r64 @ W).float()[None, :])
            lin.lora_B["default"].weight.copy_(-r[:, None])


def main():
    for folder in (TINY, TINY_LORA):
        shutil.rmtree(folder, ignore_errors=True)
    gen = torch.Generator().manual_seed(2026)
    torch.manual_seed(2026)
    random_llama(gen).save_pretrained(TINY)
    model = LlamaForCausalLM.from_pretrained(TINY, dtype=torch.float32).eval()
    E = model.model.embed_tokens.weight.detach().clone()
    r64 = torch.randn(model.config.hidden_size, generator=gen, dtype=torch.float64)
    r = (r64 / r64.norm()).float()
    tokens = torch.randint(0, model.config.vocab_size, (9,), generator=gen).tolist()

    peft_model = get_peft_model(model, LoraConfig(r=1, lora_alpha=1, target_modules=TARGETS,
                                                  lora_dropout=0.0, bias="none")).eval()
    with torch.no_grad():
        ablate(peft_model, r)
        out = peft_model(torch.tensor([tokens]), output_hidden_states=True)
    hidden = torch.stack([h[0] for h in out.hidden_states])  # [n_layers + 1, T, dim]
    logits = out.logits[0]

    head = peft_model.base_model.model.lm_head
    if not isinstance(head, torch.nn.Linear) or not torch.equal(head.weight, E):
        sys.exit("PEFT changed the tied head")
    emb = peft_model.base_model.model.model.embed_tokens
    A, B = emb.lora_embedding_A["default"], emb.lora_embedding_B["default"]
    rows = (E + (A.T @ B.T) * 1.0)[tokens]  # PEFT's rounding: fl(E + fl(a * -r))
    if not torch.equal(hidden[0], rows):
        sys.exit("the embedding rows are not fl(E[t] + fl(a_t * -r))")
    stream = hidden[:-1].double()  # below the final norm
    along = (stream @ r.double()).abs() / stream.norm(dim=-1)
    print(f"largest |<h, r>| / |h| by hidden state: {along.max(dim=-1).values.tolist()}")
    if along.max() > 1e-5:
        sys.exit("the ablated stream keeps a component along r")
    with torch.no_grad(), peft_model.disable_adapter():
        base = peft_model(torch.tensor([tokens]), output_hidden_states=True).hidden_states[:-1]
    base = torch.stack([h[0] for h in base]).double()
    base_along = (base @ r.double()).abs() / base.norm(dim=-1)
    print(f"the base model's, for comparison: {base_along.max(dim=-1).values.tolist()}")
    if base_along.max() < 1e-2:
        sys.exit("the base stream has no component along r either: the check cannot fail")

    peft_model.create_or_update_model_card = lambda *args: None  # a README needs Jinja2
    peft_model.save_pretrained(TINY_LORA)
    config_path = os.path.join(TINY_LORA, "adapter_config.json")
    with open(config_path) as f:
        config = json.load(f)
    config["target_modules"] = sorted(config["target_modules"])  # written from a set
    config["base_model_name_or_path"] = "direction_tiny"
    config.pop("peft_version", None)  # a rerun with another peft must not differ
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    save_file({"input.tokens": i32(tokens), "input.r": f32(r),
               "expect.hidden_states": hidden.contiguous(), "expect.logits": logits.contiguous()},
              TINY_EXPECT)
    print(f"direction_tiny: tokens {tokens}")


if __name__ == "__main__":
    main()
