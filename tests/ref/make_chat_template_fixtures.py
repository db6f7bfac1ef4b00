"""Makes tests/ref/fixtures/chat_templates/expect.json: what transformers renders with each
model family's Jinja chat template (fixtures/chat_templates/*.jinja, sources in the README
there), the truth for tests/test_chat_template.c. For every family, a system + user and a
user-only conversation go through transformers' own Jinja environment (the one
apply_chat_template compiles: trim_blocks, lstrip_blocks, raise_exception) with
add_generation_prompt=True and the family's bos_token / eos_token; a template that refuses a
conversation (raise_exception: Gemma and Mistral have no system turn) gives null. writes_bos
says whether the text starts with the bos_token variable (rendered once more with a marker in
its place), the part a tokenizer that adds BOS itself must not get twice. The C test
never runs Python; run this only to regenerate:

    python3 tests/ref/make_chat_template_fixtures.py

(any Python with transformers >= 4.40 and jinja2). Reruns write the same bytes.
"""

import json
import pathlib

import jinja2

from transformers.utils.chat_template_utils import _compile_jinja_template

HERE = pathlib.Path(__file__).parent / "fixtures" / "chat_templates"

# family file -> (bos_token, eos_token) of a model that carries it (None: the model has none)
FAMILIES = {
    "chatml": ("<s>", "<|im_end|>"),  # OpenHermes-2.5-Mistral-7B
    "qwen2.5": (None, "<|im_end|>"),  # Qwen2.5-Coder-1.5B-Instruct
    "smollm2": ("<|im_start|>", "<|im_end|>"),  # SmolLM2-135M-Instruct
    "llama2": ("<s>", "</s>"),  # Llama-2-7b-chat-hf
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"),  # Meta-Llama-3-8B-Instruct
    "mistral": ("<s>", "</s>"),  # Mistral-7B-Instruct-v0.1
    "zephyr": ("<s>", "</s>"),  # zephyr-7b-beta
    "gemma": ("<bos>", "<eos>"),  # gemma-7b-it
}
SYSTEM = "You are a pirate. Answer in one sentence."
PROMPT = "What is the capital of France?\nName the river too."


def render(template, bos, eos, messages):
    try:
        return _compile_jinja_template(template).render(
            messages=messages, add_generation_prompt=True, bos_token=bos or "", eos_token=eos
        )
    except jinja2.exceptions.TemplateError:  # its raise_exception: it refuses the conversation
        return None


def main():
    out = {"system": SYSTEM, "prompt": PROMPT, "families": {}}
    for name, (bos, eos) in FAMILIES.items():
        template = (HERE / f"{name}.jinja").read_text()
        user = [{"role": "user", "content": PROMPT}]
        system = [{"role": "system", "content": SYSTEM}] + user
        marked = render(template, "\x00BOS\x00", eos, user)
        out["families"][name] = {
            "bos": bos,
            "eos": eos,
            "writes_bos": marked.startswith("\x00BOS\x00"),
            "user_only": render(template, bos, eos, user),
            "system_user": render(template, bos, eos, system),
        }
    (HERE / "expect.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
