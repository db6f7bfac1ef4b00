// `are inspect MODEL`: what a model is, without running it.
#include "cli_args.h"
#include "commands.h"
#include "config_schema.h"
#include "gguf.h"
#include "hf_config.h"
#include "model_chat_template.h"
#include "model_source.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char synopsis[] =
    "usage: are inspect MODEL\n"
    "\n"
    "Describes MODEL - a Hugging Face folder (config.json, safetensors, tokenizer.json) or a\n"
    ".gguf file - after checking every tensor against its config: architecture, dimensions,\n"
    "parameter count, stored dtypes, tokenizer, BOS/EOS, and the chat template it carries: the\n"
    "family recognised and the template are generate and template = \"auto\" use.\n"
    "\n";

// What the config or metadata says beyond the dimensions.
typedef struct {
    char architecture[64];
    int bos; // -1 when unknown
    int eos[HF_CONFIG_MAX_EOS];
    int n_eos;
} ModelFacts;

static void join_path(char *out, size_t len, const char *dir, const char *name) {
    snprintf(out, len, "%s/%s", dir, name);
}

// config.json and tokenizer_config.json of a folder.
static int folder_facts(const char *dir, ModelFacts *facts, char *err, size_t err_len) {
    char path[4096];
    HfConfig hf;
    join_path(path, sizeof(path), dir, "config.json");
    if (hf_config_load(path, &hf, err, err_len) < 0) return -1;
    snprintf(facts->architecture, sizeof(facts->architecture), "%s", hf.architecture);
    facts->bos = hf.bos_token_id;
    facts->n_eos = hf.n_eos;
    memcpy(facts->eos, hf.eos_token_ids, sizeof(facts->eos));
    return 0;
}

static int gguf_facts(const char *path, ModelFacts *facts, char *err, size_t err_len) {
    Gguf *g = gguf_open(path, err, err_len);
    if (!g) return -1;
    GgufString arch;
    if (gguf_get_string(g, "general.architecture", &arch, err, err_len) == 0)
        snprintf(facts->architecture, sizeof(facts->architecture), "%.*s",
                 (int)(arch.len < 50 ? arch.len : 50), arch.ptr);
    facts->bos = -1;
    gguf_close(g);
    return 0;
}

// Counts of parameters and of tensors per stored dtype.
static void print_tensors(const ModelSource *src) {
    const LlamaConfig *cfg = model_source_config(src);
    struct {
        const char *dtype;
        int count;
    } seen[16] = {{0}};
    int n_seen = 0;
    size_t n_params = 0;
    for (int k = 0; k < PARAM_COUNT; k++) {
        if (!param_present(cfg, (ParamKind)k)) continue;
        for (int l = 0; l < (param_per_layer((ParamKind)k) ? cfg->n_layers : 1); l++) {
            n_params += param_elements(cfg, (ParamKind)k);
            const char *dtype = model_source_dtype(src, (ParamKind)k, l);
            int i = 0;
            while (i < n_seen && strcmp(seen[i].dtype, dtype)) i++;
            if (i == n_seen && n_seen < 16) seen[n_seen++].dtype = dtype;
            if (i < n_seen) seen[i].count++;
        }
    }
    printf("parameters:    %zu (%.2f M)\n", n_params, n_params / 1e6);
    printf("dtypes:       ");
    for (int i = 0; i < n_seen; i++)
        printf("%s %s %d tensor%s", i ? "," : "", seen[i].dtype, seen[i].count,
               seen[i].count == 1 ? "" : "s");
    printf("\n");
}

static void print_token_id(int id) {
    if (id >= 0)
        printf("%d", id);
    else
        printf("none");
}

// A template in the project's form, as a config string (--template takes it as written too).
static void print_template(const char *label, const char *template_text, const char *otherwise) {
    char *quoted = template_text ? schema_string_text(template_text) : NULL;
    printf("%s%s\n", label, quoted ? quoted : otherwise);
    free(quoted);
}

// The model's chat template: the family recognised and the templates it becomes.
static void print_chat_template(const char *path, const Tokenizer *tok) {
    char err[2048] = "";
    ModelChatTemplate t;
    int found = model_chat_template_load(path, tok, &t, err, sizeof(err));
    if (found < 0) {
        printf("chat template: not recognised (%s)\n", err);
    } else if (found == 0) {
        printf("chat template: none (prompts go in as they are)\n");
    } else {
        printf("chat template: %s\n", t.family);
        print_template("template:      ", t.plain, "");
        print_template("with system:   ", t.with_system, "none (the template has no system turn)");
        model_chat_template_free(&t);
    }
}

static void print_tokenizer(const char *path, const ModelFacts *facts) {
    char err[1024] = "";
    Tokenizer *tok = tokenizer_load(path, err, sizeof(err));
    if (tok) {
        printf("tokenizer:     %s, %d tokens\n",
               tokenizer_kind(tok) == TOKENIZER_SPM ? "SentencePiece-style BPE with byte fallback"
                                                    : "byte-level BPE",
               tokenizer_vocab_size(tok));
    } else {
        printf("tokenizer:     none (%s)\n", err);
    }
    // config.json's ids are what transformers uses; a GGUF file has only the tokenizer's.
    int bos = facts->bos >= 0 ? facts->bos : tok ? tokenizer_bos(tok) : -1;
    int eos = facts->n_eos ? facts->eos[0] : tok ? tokenizer_eos(tok) : -1;
    printf("bos:           ");
    print_token_id(bos);
    printf("\neos:           ");
    print_token_id(eos);
    for (int i = 1; i < facts->n_eos; i++) printf(" %d", facts->eos[i]);
    printf("\n");
    print_chat_template(path, tok);
    tokenizer_free(tok);
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    CommandLine cl = {"inspect", synopsis, .operand = "MODEL", .operand_value = &path,
                      .operand_required = true};
    int rc = cli_parse(&cl, argc, argv);
    if (rc >= 0) return rc;

    char err[1024] = "";
    ModelSource *src = model_source_open(path, err, sizeof(err));
    ModelFacts facts = {.bos = -1};
    bool hf = src && model_source_format(src) == MODEL_FORMAT_HF;
    if (!src || (hf ? folder_facts(path, &facts, err, sizeof(err))
                    : gguf_facts(path, &facts, err, sizeof(err))) < 0) {
        fprintf(stderr, "are inspect: %s\n", err);
        model_source_close(src);
        return EXIT_FAILED;
    }
    const LlamaConfig *cfg = model_source_config(src);
    printf("model:         %s (%s)\n", path, hf ? "Hugging Face folder" : "GGUF file");
    printf("architecture:  %s\n", facts.architecture);
    printf("layers:        %d\n", cfg->n_layers);
    printf("hidden size:   %d\n", cfg->dim);
    printf("ffn size:      %d\n", cfg->ffn_dim);
    printf("heads:         %d (head dim %d)\n", cfg->n_heads, cfg->head_dim);
    printf("kv heads:      %d\n", cfg->n_kv_heads);
    printf("vocab size:    %d\n", cfg->vocab_size);
    printf("context:       %d\n", cfg->max_seq_len);
    printf("rms_norm_eps:  %g\n", cfg->rms_eps);
    printf("rope_theta:    %g\n", cfg->rope_theta);
    printf("tied lm_head:  %s\n", cfg->tie_embeddings ? "yes" : "no");
    print_tensors(src);
    print_tokenizer(path, &facts);
    model_source_close(src);
    return EXIT_OK;
}
