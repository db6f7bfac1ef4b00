"""Makes the random-weight Qwen2 fixtures from Hugging Face transformers + PEFT: the truth for
the Qwen2 cases of tests/test_llama_reference.c and for tests/test_qwen2.c. The C tests never
run Python; run this only to regenerate. Everything is seeded: reruns write the same bytes.

  qwen2_gqa.safetensors, qwen2_tied.safetensors
      tiny random Qwen2ForCausalLM models (biases on q/k/v_proj; grouped KV heads, 4 over 2 and
      4 over 1; an untied and a tied head) in exactly make_fixtures.py's format, by its code:
      logits and every hidden state with a PEFT LoRA on q/k/v/o/down, the LoRA gradients of a
      loss on captured last-token states, and a full next-token backward (every weight's
      gradient, the biases' included), all in float64.
  qwen2_tiny/         a random Qwen2ForCausalLM (untied, 4 over 2 heads) saved by
                      save_pretrained, as transformers writes a folder (rope_parameters,
                      use_sliding_window false, layer_types), with a tokenizer.json in Qwen2's
                      shape (NFC, Split on Qwen2's regex, ByteLevel, BPE trained here on
                      make_tokenizer_fixtures.CORPUS, ChatML markers)
  qwen2_tiny.gguf     the same model and tokenizer as a qwen2 GGUF (F32, q/k rows as HF has
                      them, blk.N.attn_{q,k,v}.bias), which transformers (gguf_file=) must read
                      back as the folder's model: same logits
  qwen2_tiny_lora/    a PEFT adapter on it (q/k/v/o/down_proj, random B), save_pretrained
  qwen2_tiny_expect.safetensors
      input.tokens with expect.logits and expect.logits_lora (float32 forward of the folder
      without and with the adapter), input.prompt with expect.greedy and expect.greedy_lora
      (greedy tokens through transformers' KV cache; the script stops on a near tie), and
      expect.text_ids: the tokenizer's ids for the metadata's "text" (no special tokens added)

    .venv-torch/bin/python tests/ref/make_qwen2_fixtures.py
(torch 2.x, transformers 5, peft 0.21; see tests/ref/README.md.)
"""

import json
import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # single-threaded training: the same result

import shutil
import sys

import gguf
import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM
from transformers.models.qwen2 import modeling_qwen2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402
from make_fixtures import FIXTURES, f32, i32, save  # noqa: E402
from make_hf_fixtures import normalize_adapter_config  # noqa: E402
from make_tokenizer_fixtures import CORPUS, QWEN2_REGEX, byte_level_trainer  # noqa: E402

TINY = os.path.join(FIXTURES, "qwen2_tiny")
TINY_LORA = os.path.join(FIXTURES, "qwen2_tiny_lora")
TINY_GGUF = "qwen2_tiny.gguf"
TINY_EXPECT = os.path.join(FIXTURES, "qwen2_tiny_expect.safetensors")
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"]
TEXT = "<|im_start|>user\nNaïve café: 2024 + 365 = 2389?<|im_end|>\n  it's  done\n\n"
MAX_NEW_TOKENS = 12
MIN_MARGIN = 1e-2

_LLAMA_KEEP_FLOAT64 = make_fixtures.keep_float64
_ORIGINAL_RMSNORM_FORWARD = modeling_qwen2.Qwen2RMSNorm.forward
_ORIGINAL_ROTARY_FORWARD = modeling_qwen2.Qwen2RotaryEmbedding.forward


@torch.no_grad()
def _rotary_in_float64(self, x, position_ids):
    dim = self.config.hidden_size // self.config.num_attention_heads  # Qwen2 has no head_dim
    exponent = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    inv_freq = 1.0 / (self.config.rope_parameters["rope_theta"] ** exponent)  # [hd/2]
    freqs = position_ids[:, :, None].double() * inv_freq  # [B, L, hd/2]
    angles = torch.cat((freqs, freqs), dim=-1)
    return angles.cos().to(x.dtype), angles.sin().to(x.dtype)


def keep_float64(enabled):
    """make_fixtures.keep_float64, for Qwen2's own RMSNorm and rotary classes too."""
    _LLAMA_KEEP_FLOAT64(enabled)
    modeling_qwen2.Qwen2RMSNorm.forward = (
        make_fixtures._rmsnorm_in_input_dtype if enabled else _ORIGINAL_RMSNORM_FORWARD
    )
    modeling_qwen2.Qwen2RotaryEmbedding.forward = (
        _rotary_in_float64 if enabled else _ORIGINAL_ROTARY_FORWARD
    )


def random_qwen2(cfg_args, gen, dtype):
    """A Qwen2ForCausalLM with make_fixtures.make_model's weight scales; biases as matrices."""
    config = Qwen2Config(**cfg_args, use_sliding_window=False, attn_implementation="eager")
    model = Qwen2ForCausalLM(config).to(dtype).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen, dtype=dtype))
            elif name == "model.embed_tokens.weight":
                p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=dtype))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen, dtype=dtype))
    assert sum(n.endswith(".bias") for n, _ in model.named_parameters()) == 3 * config.num_hidden_layers
    return model


def reference_fixture(filename, seed, cfg_args, seq_lens, lora, capture):
    """make_fixtures.llama_fixture with a Qwen2 model."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = random_qwen2(cfg_args, gen, torch.float64)
    seqs, input_ids, mask = make_fixtures.make_batch(seq_lens, cfg_args["vocab_size"], gen)
    out = {name: f32(p) for name, p in model.named_parameters()}
    out["input.tokens"] = i32(sum(seqs, []))
    out["input.seq_len"] = i32(seq_lens)
    print(filename)
    make_fixtures.base_outputs(model, input_ids, mask, seq_lens, out)
    model = make_fixtures.lora_outputs(model, lora, input_ids, mask, seq_lens, capture, gen, out)
    metadata = {"config": model.config.to_json_string(), "lora": json.dumps(lora)}
    save(out, filename, metadata)


def greedy(model, ids):
    """Greedy tokens through the KV cache; stops on a top-2 margin under MIN_MARGIN."""
    out, past, step = [], None, torch.tensor([ids])
    for _ in range(MAX_NEW_TOKENS):
        res = model(step, past_key_values=past, use_cache=True)
        past = res.past_key_values
        top2 = torch.topk(res.logits[0, -1].double(), 2)
        if top2.values[0] - top2.values[1] < MIN_MARGIN:
            sys.exit(f"greedy step {len(out)}: a near tie; change the seed")
        out.append(int(top2.indices[0]))
        step = torch.tensor([[out[-1]]])
    return out


def qwen2_tokenizer():
    """A byte-level BPE in the shape of Qwen2's tokenizer.json, trained single-threaded."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, byte_level_trainer(["<|endoftext|>", "<|im_start|>",
                                                        "<|im_end|>"]))
    return tok


GGUF_NAMES = {"input_layernorm.weight": "attn_norm.weight",
              "post_attention_layernorm.weight": "ffn_norm.weight",
              "self_attn.o_proj.weight": "attn_output.weight",
              "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
              "mlp.down_proj.weight": "ffn_down.weight"}
for _m in "qkv":
    for _kind in ("weight", "bias"):
        GGUF_NAMES[f"self_attn.{_m}_proj.{_kind}"] = f"attn_{_m}.{_kind}"


def gguf_name(hf_name):
    """llama.cpp's tensor name for a Qwen2 parameter."""
    whole = {"model.embed_tokens.weight": "token_embd.weight",
             "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    if hf_name in whole:
        return whole[hf_name]
    layer, module = hf_name[len("model.layers."):].split(".", 1)
    return f"blk.{layer}.{GGUF_NAMES[module]}"


def write_gguf(model, tokenizer, path):
    """The model and tokenizer as convert_hf_to_gguf.py writes a Qwen2 (its Qwen2Model does
    not permute q/k, unlike its LlamaModel); F32 tensors, so nothing is rounded."""
    config = model.config
    w = gguf.GGUFWriter(path, arch="qwen2")
    w.add_name("are test qwen2_tiny")
    w.add_block_count(config.num_hidden_layers)
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_rope_freq_base(config.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    spec = json.loads(tokenizer.to_str())
    vocab = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    special = {t["id"] for t in spec["added_tokens"] if t["special"]}
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list([token for token, _ in vocab])
    w.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
                       for _, i in vocab])
    w.add_token_merges([" ".join(m) for m in spec["model"]["merges"]])
    w.add_eos_token_id(tokenizer.token_to_id("<|im_end|>"))
    w.add_add_bos_token(False)
    for name, p in model.state_dict().items():
        w.add_tensor(gguf_name(name), p.detach().numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tiny_folder():
    """qwen2_tiny/, its PEFT adapter and what transformers computes with both (float32)."""
    for folder in (TINY, TINY_LORA):
        shutil.rmtree(folder, ignore_errors=True)
    gen = torch.Generator().manual_seed(2025)
    torch.manual_seed(2025)
    tokenizer = qwen2_tokenizer()
    cfg = dict(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
               rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=False,
               bos_token_id=None, eos_token_id=2)
    random_qwen2(cfg, gen, torch.float32).save_pretrained(TINY)
    tokenizer.save(os.path.join(TINY, "tokenizer.json"))
    text_ids = tokenizer.encode(TEXT, add_special_tokens=False).ids
    hf = Qwen2ForCausalLM.from_pretrained(TINY, dtype=torch.float32).eval()
    tokens = torch.randint(3, cfg["vocab_size"], (9,), generator=gen).tolist()
    prompt = torch.randint(3, cfg["vocab_size"], (5,), generator=gen).tolist()
    write_gguf(hf, tokenizer, os.path.join(FIXTURES, TINY_GGUF))
    from_gguf = Qwen2ForCausalLM.from_pretrained(FIXTURES, gguf_file=TINY_GGUF,
                                                 dtype=torch.float32).eval()
    with torch.no_grad():
        logits = hf(torch.tensor([tokens])).logits[0]
        if not torch.equal(from_gguf(torch.tensor([tokens])).logits[0], logits):
            sys.exit("transformers reads qwen2_tiny.gguf as another model than the folder")
        plain = greedy(hf, prompt)
    peft_model = get_peft_model(hf, LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS,
                                               lora_dropout=0.0, bias="none")).eval()
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
        logits_lora = peft_model(torch.tensor([tokens])).logits[0]
        adapted = greedy(peft_model, prompt)
    if adapted == plain:
        sys.exit("the adapter does not change the greedy continuation; change the seed")
    peft_model.create_or_update_model_card = lambda *args: None  # a README needs Jinja2
    peft_model.save_pretrained(TINY_LORA)
    config_path = os.path.join(TINY_LORA, "adapter_config.json")
    normalize_adapter_config(config_path)
    with open(config_path) as f:  # normalize_adapter_config names hf_tiny
        config = json.load(f)
    config["base_model_name_or_path"] = "qwen2_tiny"
    for volatile in ("peft_version",):  # a rerun with another peft must not differ
        config.pop(volatile, None)
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    save_file({"input.tokens": i32(tokens), "expect.logits": logits.contiguous(),
               "expect.logits_lora": logits_lora.contiguous(), "input.prompt": i32(prompt),
               "expect.greedy": i32(plain), "expect.greedy_lora": i32(adapted),
               "expect.text_ids": i32(text_ids)}, TINY_EXPECT, metadata={"text": TEXT})
    print(f"qwen2_tiny: vocab {cfg['vocab_size']}, text ids {text_ids}")
    print(f"qwen2_tiny: greedy {plain}, with the adapter {adapted}")


def main():
    make_fixtures.keep_float64 = keep_float64  # base_outputs switches it off and on
    keep_float64(True)
    common = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                  max_position_embeddings=64)
    lora = {"r": 4, "lora_alpha": 8, "target_modules": LORA_TARGETS}
    reference_fixture(
        "qwen2_gqa.safetensors", seed=4321,
        cfg_args=dict(common, num_attention_heads=4, num_key_value_heads=2, rope_theta=1000000.0,
                      rms_norm_eps=1e-6, tie_word_embeddings=False),
        seq_lens=[6, 2, 5], lora=dict(lora, layers=[0, 2]), capture=[1, -1])
    reference_fixture(
        "qwen2_tied.safetensors", seed=8765,
        cfg_args=dict(common, num_attention_heads=4, num_key_value_heads=1, rope_theta=10000.0,
                      rms_norm_eps=1e-5, tie_word_embeddings=True),
        seq_lens=[5, 7, 1], lora=dict(lora, layers=[1, 2]), capture=[-1, 2])
    keep_float64(False)
    tiny_folder()


if __name__ == "__main__":
    main()
