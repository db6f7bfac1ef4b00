"""Makes the reference fixtures in tests/ref/fixtures/ from Hugging Face transformers + PEFT.

The C tests compare the engine against these files and never need Python; run this only to
regenerate them (see README.md). Everything is seeded, so a rerun gives identical files.

The model math runs in float64; results are stored as float32. transformers drops to float32
inside RMSNorm, the rotary angles, the attention softmax and the logits before the loss;
`keep_float64` and `forward64` below keep float64 in those places (same formulas), and the
script checks that the result agrees with the unpatched HF model to float32 precision.
"""

import json
import os
import sys

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama import modeling_llama

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
LORA_TARGETS = ["q_proj", "v_proj", "up_proj", "down_proj"]

_ORIGINAL_SOFTMAX = F.softmax
_ORIGINAL_RMSNORM_FORWARD = modeling_llama.LlamaRMSNorm.forward
_ORIGINAL_ROTARY_FORWARD = modeling_llama.LlamaRotaryEmbedding.forward


def _softmax_in_input_dtype(x, dim=None, _stacklevel=3, dtype=None):
    return _ORIGINAL_SOFTMAX(x, dim=dim, dtype=None if x.dtype == torch.float64 else dtype)


def _rmsnorm_in_input_dtype(self, x):
    variance = x.pow(2).mean(-1, keepdim=True)
    return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))


@torch.no_grad()
def _rotary_in_float64(self, x, position_ids):
    exponent = torch.arange(0, self.dim, 2, dtype=torch.float64) / self.dim
    inv_freq = 1.0 / (self.base**exponent)  # [hd/2]
    freqs = position_ids[:, :, None].double() * inv_freq  # [B, L, hd/2]
    angles = torch.cat((freqs, freqs), dim=-1)
    return angles.cos().to(x.dtype), angles.sin().to(x.dtype)


def keep_float64(enabled):
    """Switches transformers' float32 upcasts off (enabled) or back on."""
    torch.nn.functional.softmax = _softmax_in_input_dtype if enabled else _ORIGINAL_SOFTMAX
    modeling_llama.LlamaRMSNorm.forward = (
        _rmsnorm_in_input_dtype if enabled else _ORIGINAL_RMSNORM_FORWARD
    )
    modeling_llama.LlamaRotaryEmbedding.forward = (
        _rotary_in_float64 if enabled else _ORIGINAL_ROTARY_FORWARD
    )



def f32(t):
    return t.detach().to(torch.float32).contiguous()


def i32(values):
    return torch.tensor(values, dtype=torch.int32)


def make_model(cfg_args, gen):
    """A float64 LlamaForCausalLM with random weights large enough that every part matters."""
    config = LlamaConfig(**cfg_args, attn_implementation="eager", torch_dtype="float32")
    model = LlamaForCausalLM(config).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            elif name == "model.embed_tokens.weight":
                p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model


def make_batch(seq_lens, vocab, gen):
    """Ragged batch, right-padded for HF; one token repeats so embedding gradients add up."""
    seqs = [torch.randint(0, vocab, (n,), generator=gen).tolist() for n in seq_lens]
    seqs[-1][-1] = seqs[0][0]
    width = max(seq_lens)
    input_ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for s, seq in enumerate(seqs):
        input_ids[s, : len(seq)] = torch.tensor(seq)
        mask[s, : len(seq)] = 1
    return seqs, input_ids, mask


def pack(x, seq_lens):
    """[B, L, ...] right-padded -> [sum(len), ...] real positions only."""
    return torch.cat([x[s, :n] for s, n in enumerate(seq_lens)], dim=0)


def forward64(causal_lm, input_ids, mask):
    """LlamaForCausalLM's forward without its cast of the logits to float32."""
    result = causal_lm.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    return causal_lm.lm_head(result.last_hidden_state), result.hidden_states


def next_token_loss(logits, labels):
    """Hugging Face's LlamaForCausalLM loss (shifted labels, -100 ignored), kept in float64."""
    vocab = logits.shape[-1]
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=-100
    )


def check_close(name, a, b, tol):
    err = (a - b).abs().max().item() / max(b.abs().max().item(), 1e-30)
    print(f"  {name}: max rel diff {err:.2e}")
    if not err < tol:
        sys.exit(f"{name}: {err:.2e} exceeds {tol:.0e}")


def base_outputs(model, input_ids, mask, seq_lens, out):
    """Logits without LoRA, then the full next-token backward over every base weight."""
    labels = input_ids.masked_fill(mask == 0, -100)
    model.zero_grad()
    logits, _ = forward64(model, input_ids, mask)
    loss = next_token_loss(logits, labels)
    loss.backward()

    keep_float64(False)
    with torch.no_grad():
        hf = model(input_ids=input_ids, attention_mask=mask, labels=labels)
    keep_float64(True)
    check_close("float64 vs HF float32-upcast logits", logits, hf.logits.double(), 1e-5)
    check_close("float64 vs HF loss", loss, hf.loss.double(), 1e-5)

    out["expect.logits_base"] = f32(pack(logits, seq_lens))
    out["expect.loss"] = f32(loss.reshape(1))
    for name, p in model.named_parameters():
        out[f"expect.grad.{name}"] = f32(p.grad)


def lora_outputs(model, lora, input_ids, mask, seq_lens, capture, gen, out):
    """Forward with the adapter, then the generator loss on captured last-token states."""
    peft_config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["lora_alpha"],
        target_modules=lora["target_modules"],
        layers_to_transform=lora["layers"],
        lora_dropout=0.0,
        bias="none",
    )
    peft_model = get_peft_model(model, peft_config).double().eval()
    names = list(get_peft_model_state_dict(peft_model, save_embedding_layers=False).keys())
    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for name in names:  # PEFT's saved name lacks the adapter name ("default")
            p = params[name.replace(".weight", ".default.weight")]
            p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            out[name] = f32(p)

    logits, hidden_states = forward64(peft_model.base_model.model, input_ids, mask)
    out["expect.logits"] = f32(pack(logits, seq_lens))
    hidden = torch.stack(hidden_states)  # [n_layers+1, B, L, dim]
    out["expect.hidden_states"] = f32(torch.stack([pack(h, seq_lens) for h in hidden]))

    last = torch.tensor(seq_lens) - 1
    batch = torch.arange(len(seq_lens))
    captured = torch.stack([hidden_states[c][batch, last] for c in capture], dim=1)
    upstream = torch.randn(captured.shape, generator=gen, dtype=torch.float64)
    peft_model.zero_grad()
    (upstream * captured).sum().backward()
    out["grad.capture_layers"] = i32(capture)
    out["grad.upstream"] = f32(upstream)  # [n_seqs, n_capture, dim]
    for name in names:
        out[f"expect.lora_grad.{name}"] = f32(params[name.replace(".weight", ".default.weight")].grad)
    return peft_model.unload()


def save(tensors, filename, metadata):
    """safetensors.save_file, with the header's keys sorted: the package writes __metadata__ in
    hash order, and sorting makes a rerun byte-identical."""
    path = os.path.join(FIXTURES, filename)
    save_file(tensors, path, metadata=metadata)
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
        data = f.read()
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keeps the data region 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)


def llama_fixture(filename, seed, cfg_args, seq_lens, lora, capture):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # HF's own init, overwritten below, still draws from it
    model = make_model(cfg_args, gen)
    seqs, input_ids, mask = make_batch(seq_lens, cfg_args["vocab_size"], gen)

    out = {name: f32(p) for name, p in model.named_parameters()}
    out["input.tokens"] = i32(sum(seqs, []))
    out["input.seq_len"] = i32(seq_lens)
    print(filename)
    base_outputs(model, input_ids, mask, seq_lens, out)
    model = lora_outputs(model, lora, input_ids, mask, seq_lens, capture, gen, out)

    metadata = {"config": model.config.to_json_string(), "lora": json.dumps(lora)}
    save(out, filename, metadata)


def adamw_fixture(filename, seed, n_params, n_steps):
    gen = torch.Generator().manual_seed(seed)
    hyper = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-6, "weight_decay": 0.1}
    params0 = torch.randn(n_params, generator=gen)
    grads = torch.randn(n_steps, n_params, generator=gen)
    p = torch.nn.Parameter(params0.clone())
    opt = torch.optim.AdamW(
        [p],
        lr=hyper["lr"],
        betas=(hyper["beta1"], hyper["beta2"]),
        eps=hyper["eps"],
        weight_decay=hyper["weight_decay"],
    )
    expect = []
    for step in range(n_steps):
        p.grad = grads[step].clone()
        opt.step()
        expect.append(p.detach().clone())
    out = {"adamw.params0": params0, "adamw.grads": grads, "adamw.expect": torch.stack(expect)}
    save(out, filename, metadata={"adamw": json.dumps(hyper)})


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    keep_float64(True)
    common = dict(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=3,
        max_position_embeddings=64,
    )
    lora = {"r": 4, "lora_alpha": 8, "target_modules": LORA_TARGETS}
    llama_fixture(
        "llama_gqa.safetensors",
        seed=1234,
        cfg_args=dict(
            common,
            num_attention_heads=4,
            num_key_value_heads=2,
            rope_theta=500000.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
        ),
        seq_lens=[7, 3, 5],
        lora=dict(lora, layers=[1, 2]),
        capture=[2, -1],
    )
    llama_fixture(
        "llama_tied.safetensors",
        seed=5678,
        cfg_args=dict(
            common,
            num_attention_heads=4,
            num_key_value_heads=4,
            rope_theta=10000.0,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
        ),
        seq_lens=[4, 8, 1, 6],
        lora=dict(lora, layers=[0, 2]),
        capture=[-1, 1],
    )
    adamw_fixture("adamw.safetensors", seed=42, n_params=37, n_steps=5)


if __name__ == "__main__":
    main()
