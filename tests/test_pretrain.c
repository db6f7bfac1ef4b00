// `are pretrain`'s parts: the learning-rate schedule against its closed form; the reading order
// of a token stream (every window once per epoch, no hidden state, so a resumed run reads what
// a straight one would); the optimiser step's gradient norm against a finite difference of the
// loss along the gradient, and clipping scaling the update; a saved Hugging Face folder loading
// back through model_source + model_load to bit-identical logits; the JSONL corpus reader; the
// config reader's messages for each kind of bad config (those of run configs: one engine) and
// overrides; and the shipped pretrain configs loading.
#include "backend_cpu.h"
#include "check.h"
#include "fs.h"
#include "hf_config.h"
#include "model_load.h"
#include "pretrain.h"
#include "pretrain_config.h"
#include "rng.h"
#include "test_model.h"
#include "text_corpus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static Backend *be;
static char tmp_dir[256];

static const TestModelShape tiny = {
    .vocab_size = 50, .dim = 16, .ffn_dim = 24, .n_layers = 2, .max_seq_len = 16};

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_lr_schedule(void) {
    LrSchedule s = {.lr = 1e-2f, .min_lr = 1e-3f, .warmup_steps = 10, .steps = 110};
    struct {
        int done;
        double want;
    } cases[] = {
        {0, 1e-3},  // first warmup step: lr / warmup
        {4, 5e-3},  // linear
        {9, 1e-2},  // warmup reaches lr
        {10, 1e-2}, // cosine starts at lr
        {35, 1e-3 + 0.45e-2 * (1 + cos(M_PI / 4))},
        {60, 5.5e-3}, // half way: the mean of lr and min_lr
        {110, 1e-3},  // the end: min_lr
        {500, 1e-3},  // and after
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = lr_schedule_at(&s, cases[i].done);
        CHECK(fabs(got - cases[i].want) <= 1e-6 * cases[i].want, "lr after %d steps: %g, want %g",
              cases[i].done, got, cases[i].want);
    }
    LrSchedule flat = {.lr = 3e-3f, .min_lr = 3e-3f, .steps = 5};
    CHECK(lr_schedule_at(&flat, 0) == 3e-3f && lr_schedule_at(&flat, 4) == 3e-3f,
          "no warmup, min_lr = lr: a constant rate");
}

// The windows read at positions first .. first+n-1, as window indices (their first token / 10).
static void read_order(TokenWindows *w, long long first, int n, int *windows) {
    int tokens[10], targets[10];
    bool shifted = true;
    for (int i = 0; i < n; i++) {
        token_windows_batch(w, first + i, 1, tokens, targets);
        windows[i] = tokens[0] / 10;
        for (int t = 0; t < 10; t++)
            shifted = shifted && tokens[t] == tokens[0] + t && targets[t] == tokens[t] + 1;
    }
    CHECK(shifted, "windows at %lld..: consecutive tokens, targets one ahead", first);
}

static void test_token_windows(void) {
    int stream[105]; // 10 windows of 10 (+1 target); the last 4 tokens start no full window
    for (int i = 0; i < 105; i++) stream[i] = i;
    TokenWindows w, fresh, other;
    CHECK(token_windows_init(&w, stream, 105, 10, 7) == 0 && w.n_windows == 10, "10 windows");
    int epoch0[10], epoch1[10], again[10], seeded[10];
    read_order(&w, 0, 10, epoch0);
    read_order(&w, 10, 10, epoch1);
    bool seen0[10] = {0}, seen1[10] = {0}, same = true;
    for (int i = 0; i < 10; i++) {
        seen0[epoch0[i]] = seen1[epoch1[i]] = true;
        same = same && epoch0[i] == epoch1[i];
    }
    bool all = true;
    for (int i = 0; i < 10; i++) all = all && seen0[i] && seen1[i];
    CHECK(all, "every window once in each epoch");
    CHECK(!same, "each epoch has its own order");
    // A fresh reader started in the middle (as after --resume) reads the same windows.
    CHECK(token_windows_init(&fresh, stream, 105, 10, 7) == 0, "fresh reader");
    read_order(&fresh, 13, 5, again);
    CHECK(!memcmp(again, epoch1 + 3, sizeof(int) * 5), "resumed reading order differs");
    CHECK(token_windows_init(&other, stream, 105, 10, 8) == 0, "other seed");
    read_order(&other, 0, 10, seeded);
    CHECK(memcmp(seeded, epoch0, sizeof(seeded)), "another seed, another order");
    TokenWindows short_stream;
    CHECK(token_windows_init(&short_stream, stream, 10, 10, 1) < 0, "10 tokens hold no window");
    token_windows_free(&w);
    token_windows_free(&fresh);
    token_windows_free(&other);
}

// Summed loss of the batch at the model's current weights.
static double batch_loss(Pretrainer *p, const int *tokens, const int *targets) {
    double sum;
    long long count;
    pretrainer_eval(p, p->options.batch_seqs, tokens, targets, &sum, &count);
    return sum / (double)count;
}

// The gradient norm of a step equals the loss's slope along the gradient (a central finite
// difference in the unit gradient direction); clipping to a quarter of it makes the update a
// quarter as long (eps far above the gradient makes AdamW's first step linear in it).
static void test_step_gradient_and_clipping(void) {
    LlamaConfig cfg = test_model_config(tiny);
    LlamaModel m;
    test_model_init(&m, &cfg, be, MATRIX_F32, 0.3f, 11);
    size_t n = m.w.n_floats;
    float *start = malloc(n * sizeof(float)), *probe = malloc(n * sizeof(float));
    float *grad = malloc(n * sizeof(float)), *after = malloc(n * sizeof(float));
    memcpy(start, m.w.memory, n * sizeof(float));
    enum { B = 2, L = 8 };
    int tokens[B * L], targets[B * L];
    Rng rng;
    rng_seed(&rng, 3);
    for (int t = 0; t < B * L; t++) tokens[t] = (int)(rng_next(&rng) % tiny.vocab_size);
    for (int t = 0; t < B * L; t++) targets[t] = t % L == L - 1 ? -1 : tokens[t + 1];
    PretrainOptions o = {.adamw = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e4f},
                         .schedule = {.lr = 1.0f, .min_lr = 1.0f, .steps = 10},
                         .batch_seqs = B,
                         .seq_len = L};
    double delta_norm[2], norm = 0;
    for (int clipped = 0; clipped < 2; clipped++) {
        Pretrainer p;
        char err[512] = "";
        o.clip_norm = clipped ? (float)(norm / 4) : 0;
        memcpy(m.w.memory, start, n * sizeof(float));
        CHECK(pretrainer_init(&p, &m, &o, err, sizeof(err)) == 0, "pretrainer: %s", err);
        PretrainStepStats st;
        CHECK(pretrainer_step(&p, tokens, targets, &st, err, sizeof(err)) == 0, "step: %s", err);
        CHECK(p.opt.step == 1 && st.lr == 1.0f, "one step at lr 1");
        memcpy(after, m.w.memory, n * sizeof(float));
        if (!clipped) {
            norm = st.grad_norm;
            memcpy(grad, m.grad.memory, n * sizeof(float));
            double h = 1e-2, loss[2];
            for (int side = 0; side < 2; side++) {
                for (size_t i = 0; i < n; i++)
                    probe[i] = start[i] + (float)((side ? h : -h) * grad[i] / norm);
                memcpy(m.w.memory, probe, n * sizeof(float));
                loss[side] = batch_loss(&p, tokens, targets);
            }
            double slope = (loss[1] - loss[0]) / (2 * h);
            printf("gradient norm %.6f, finite-difference slope along it %.6f\n", norm, slope);
            CHECK(fabs(slope - norm) <= 2e-2 * norm, "grad norm %g, slope %g", norm, slope);
        } else {
            CHECK(fabs(st.grad_norm - norm) <= 1e-6 * norm, "the norm is reported before clipping");
        }
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += ((double)after[i] - start[i]) * (after[i] - start[i]);
        delta_norm[clipped] = sqrt(sum);
        pretrainer_free(&p);
    }
    double ratio = delta_norm[1] / delta_norm[0];
    printf("update length clipped / unclipped %.5f (want 0.25)\n", ratio);
    CHECK(fabs(ratio - 0.25) < 2e-3, "clipping to a quarter of the norm: update ratio %g", ratio);
    free(start);
    free(probe);
    free(grad);
    free(after);
    llama_free(&m);
}

static float *logits_of(LlamaModel *m, const int *tokens, int T) {
    WorkspacePlan plan = {
        .max_tokens = T, .max_seqs = 1, .max_seq_len = T, .outputs = {.logits = true}};
    char err[512] = "";
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof(err));
    TokenBatch batch = {.n_seqs = 1, .seq_len = &T, .tokens = tokens};
    size_t n = (size_t)T * (size_t)m->cfg.vocab_size;
    float *logits = malloc(n * sizeof(float));
    CHECK(ws && llama_forward(m, ws, &batch) == 0, "forward: %s", err);
    memcpy(logits, llama_logits(ws), n * sizeof(float));
    llama_workspace_free(ws);
    return logits;
}

// A model saved as a folder loads back to the same config and the same logits, bit for bit.
static void test_save_load(bool tied) {
    LlamaConfig cfg = test_model_config(tiny);
    cfg.tie_embeddings = tied;
    LlamaModel m, loaded;
    test_model_init(&m, &cfg, be, MATRIX_F32, 0.5f, tied ? 5 : 6);
    char dir[512], path[600], err[1024] = "";
    snprintf(dir, sizeof(dir), "%s/saved/%s", tmp_dir, tied ? "tied" : "untied");
    CHECK(model_save(&m, dir, 1, 2, err, sizeof(err)) == 0, "save: %s", err);
    ModelSource *src = model_source_open(dir, err, sizeof(err));
    CHECK(src, "open %s: %s", dir, err);
    if (!src) return;
    const LlamaConfig *c = model_source_config(src);
    CHECK(c->vocab_size == m.cfg.vocab_size && c->dim == m.cfg.dim && c->ffn_dim == m.cfg.ffn_dim &&
              c->n_layers == m.cfg.n_layers && c->n_heads == m.cfg.n_heads &&
              c->n_kv_heads == m.cfg.n_kv_heads && c->head_dim == m.cfg.head_dim &&
              c->max_seq_len == m.cfg.max_seq_len && c->rms_eps == m.cfg.rms_eps &&
              c->rope_theta == m.cfg.rope_theta && c->tie_embeddings == tied,
          "the config read back differs (tied %d)", tied);
    CHECK(model_load(&loaded, src, be, MATRIX_F32, err, sizeof(err)) == 0, "load: %s", err);
    model_source_close(src);
    int tokens[12] = {1, 7, 3, 49, 0, 22, 22, 8, 31, 2, 40, 17};
    float *want = logits_of(&m, tokens, 12), *got = logits_of(&loaded, tokens, 12);
    CHECK(!memcmp(want, got, 12 * (size_t)tiny.vocab_size * sizeof(float)),
          "logits of the loaded model differ (tied %d)", tied);
    HfConfig hf;
    snprintf(path, sizeof(path), "%s/config.json", dir);
    CHECK(hf_config_load(path, &hf, err, sizeof(err)) == 0 && hf.bos_token_id == 1 &&
              hf.n_eos == 1 && hf.eos_token_ids[0] == 2,
          "bos/eos in config.json: %s", err);
    err[0] = 0;
    CHECK(model_save(&m, "/dev/null/model", 1, 2, err, sizeof(err)) < 0 &&
              strstr(err, "/dev/null/model: cannot create the folder"),
          "saving under a file: '%s'", err);
    free(want);
    free(got);
    llama_free(&m);
    llama_free(&loaded);
}

static void test_corpus(void) {
    char path[512], err[1024] = "";
    snprintf(path, sizeof(path), "%s/docs.jsonl", tmp_dir);
    write_text(path, "{\"text\": \"one\\ntwo\", \"id\": 1}\n\n  \n{\"text\": \"caf\\u00e9\"}\n"
                     "{\"text\": \"\"}");
    TextCorpus c;
    CHECK(text_corpus_load(path, &c, err, sizeof(err)) == 0, "corpus: %s", err);
    CHECK(c.n_docs == 3 && !strcmp(c.docs[0], "one\ntwo") && c.lens[0] == 7 &&
              !strcmp(c.docs[1], "caf\xc3\xa9") && c.lens[1] == 5 && c.lens[2] == 0,
          "3 documents with their text");
    text_corpus_free(&c);
    struct {
        const char *text, *message;
    } bad[] = {
        {"{\"text\": \"a\"}\n[1]\n", "docs.jsonl:2: expected a JSON object"},
        {"{\"text\": \"a\"}\n\n{\"txt\": \"b\"}\n", "docs.jsonl:3: expected a string field"},
        {"{\"text\": 3}\n", "docs.jsonl:1: expected a string field \"text\""},
        {"{\"text\": \"a\"\n", "docs.jsonl:1: "},
        {"\n\n", "no documents"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(path, bad[i].text);
        err[0] = 0;
        CHECK(text_corpus_load(path, &c, err, sizeof(err)) < 0 && strstr(err, bad[i].message),
              "bad corpus %zu: got '%s', want '%s'", i, err, bad[i].message);
    }
}

static const char good_config[] =
    "output = \"out\";\nseed = 5;\n"
    "model = { dim = 32; ffn_dim = 64; n_layers = 2; n_heads = 4; n_kv_heads = 2;\n"
    "          max_seq_len = 64; tie_embeddings = false; };\n"
    "data = { tokenizer = \"tok.json\"; text = \"t.jsonl\"; validation_fraction = 0.2; };\n"
    "train = { seq_len = 32; batch_seqs = 4; steps = 100; warmup_steps = 10; lr = 1e-3;\n"
    "          min_lr = 1e-4; clip_norm = 0.5; eval_every = 10; checkpoint_every = 50; };\n";

// good_config with the first occurrence of from replaced by to, into the file path.
static void write_variant(const char *path, const char *from, const char *to) {
    char text[2048];
    const char *at = strstr(good_config, from);
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good_config), good_config, to,
             at + strlen(from));
    write_text(path, text);
}

static void test_config(void) {
    char path[512], err[1024] = "";
    snprintf(path, sizeof(path), "%s/p.cfg", tmp_dir);
    write_text(path, good_config);
    PretrainConfig c;
    CHECK(pretrain_config_load(path, NULL, 0, &c, err, sizeof(err)) == 0, "good config: %s", err);
    CHECK(c.model.dim == 32 && c.model.n_kv_heads == 2 && c.model.head_dim == 8 &&
              !c.model.tie_embeddings && c.model.rms_eps == 1e-5f && c.seed == 5 &&
              c.validation_fraction == 0.2f && c.lr == 1e-3f && c.clip_norm == 0.5f &&
              c.beta2 == 0.95f && !strcmp(c.text, "t.jsonl") && !c.validation[0],
          "good config values");
    // good_config's lines: 1 output, 2 seed, 3-4 model, 5 data, 6-7 train.
    struct {
        const char *from, *to, *message;
    } bad[] = {
        {"seed = 5;", "seed = 5; colour = 1;", "p.cfg:2: unknown field 'colour'"},
        {"max_seq_len = 64;", "max_seq_len = 64;\n  colour = 1;",
         "p.cfg:5: unknown field 'model.colour'"},
        // Misspelt names: the nearest known one at that level, as run configs get.
        {"seed = 5;", "sed = 5;", "p.cfg:2: unknown field 'sed' (did you mean 'seed'?)"},
        {"warmup_steps = 10;", "warmup_step = 10;",
         "p.cfg:6: unknown field 'train.warmup_step' (did you mean 'warmup_steps'?)"},
        {"data = {", "dat = {", "p.cfg:5: unknown field 'dat' (did you mean 'data'?)"},
        {"steps = 100;", "steps = \"many\";",
         "p.cfg:6: field 'train.steps' must be an integer in [1..1073741824], got a string"},
        {"output = \"out\";", "output = 3;",
         "p.cfg:1: field 'output' must be a non-empty string, got an integer"},
        {"lr = 1e-3;", "lr = \"fast\";",
         "p.cfg:6: field 'train.lr' must be a number in (0..1], got a string"},
        {"lr = 1e-3;", "lr = 2.0;", "p.cfg:6: field 'train.lr' is 2, expected a number in (0..1]"},
        {"n_layers = 2;", "n_layers = 0;", "p.cfg:3: field 'model.n_layers' is 0, expected"},
        {"dim = 32;", "dim = 32.5;", "p.cfg:3: field 'model.dim' must be an integer"},
        {"tie_embeddings = false;", "tie_embeddings = 0;",
         "field 'model.tie_embeddings' must be true or false, got an integer"},
        {"\"t.jsonl\";", "\"\";", "p.cfg:5: field 'data.text' must not be empty"},
        // A missing field is reported at its group's line; a missing group at the file.
        {" lr = 1e-3;", "", "p.cfg:6: missing required field 'train.lr' (a number in (0..1])"},
        {"data = { tokenizer = \"tok.json\"; text = \"t.jsonl\"; validation_fraction = 0.2; };\n",
         "", "p.cfg: missing required field 'data.tokenizer' (a non-empty string)"},
        {"n_kv_heads = 2;", "n_kv_heads = 3;", "p.cfg:3: field 'model.n_kv_heads' (3) must divide"},
        {"min_lr = 1e-4;", "min_lr = 1e-2;", "p.cfg:7: field 'train.min_lr' (0.01) exceeds"},
        {"seq_len = 32;", "seq_len = 128;", "p.cfg:6: field 'train.seq_len' (128) exceeds"},
        {"validation_fraction", "validation = \"v.jsonl\"; validation_fraction",
         "p.cfg:5: give either data.validation"},
        {"data = {", "data = 3; x = {", "p.cfg:5: 'data' must be a group"},
        {"seed = 5;", "seed = ;", "p.cfg:2: syntax error"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_variant(path, bad[i].from, bad[i].to);
        err[0] = 0;
        CHECK(pretrain_config_load(path, NULL, 0, &c, err, sizeof(err)) < 0 &&
                  strstr(err, bad[i].message),
              "bad config %zu: got '%s', want '%s'", i, err, bad[i].message);
    }
}

// Overrides ("path=value", what run configs take from --set) apply before checking, as if the
// file said so, and a bad one is named in the message.
static void test_config_overrides(void) {
    char path[512], err[1024] = "";
    snprintf(path, sizeof(path), "%s/p.cfg", tmp_dir);
    write_text(path, good_config);
    PretrainConfig c;
    const char *const good[] = {"train.steps=70", "model.n_kv_heads=4", "output=elsewhere",
                                "data.validation_fraction=0.25"};
    CHECK(pretrain_config_load(path, good, 4, &c, err, sizeof(err)) == 0, "overrides: %s", err);
    CHECK(c.steps == 70 && c.model.n_kv_heads == 4 && !strcmp(c.output, "elsewhere") &&
              c.validation_fraction == 0.25f && c.batch_seqs == 4,
          "overridden values");
    struct {
        const char *override, *message;
    } bad[] = {
        {"train.stpes=7", "--set train.stpes=7: unknown field 'train.stpes' (did you mean "
                          "'steps'?)"},
        {"train.steps=many", "--set train.steps=many: field 'train.steps' must be an integer in "
                             "[1..1073741824], got a string"},
        {"train.seq_len=128", "--set train.seq_len=128: field 'train.seq_len' (128) exceeds "
                              "model.max_seq_len (64)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK(pretrain_config_load(path, &bad[i].override, 1, &c, err, sizeof(err)) < 0 &&
                  !strcmp(err, bad[i].message),
              "bad override %zu: got '%s', want '%s'", i, err, bad[i].message);
    }
}

// pretrain_config_text is a config file that loads back to the very same values (overrides and
// defaults included, the inter-field rules still met), and is a fixed point: the text of what
// it loads is itself. Checked with the held-out fraction and with a validation file, since only
// one of the two fields may appear.
static void test_config_text(void) {
    char path[512], again[512], err[1024] = "";
    snprintf(path, sizeof(path), "%s/p.cfg", tmp_dir);
    snprintf(again, sizeof(again), "%s/resolved.cfg", tmp_dir);
    const char *const fraction[] = {"train.steps=70", "data.validation_fraction=0.25",
                                    "train.eps=3e-7"};
    const char *const file[] = {"data.validation=\"v.jsonl\""};
    struct {
        const char *const *overrides;
        int n;
        const char *line, *absent;
    } cases[] = {
        {fraction, 3, "    steps = 70;\n", "validation = "},
        {file, 1, "    validation = \"v.jsonl\";\n", "validation_fraction"},
    };
    for (int i = 0; i < 2; i++) {
        write_variant(path, "validation_fraction = 0.2;", i ? "" : "validation_fraction = 0.2;");
        PretrainConfig c, d;
        CHECK(pretrain_config_load(path, cases[i].overrides, cases[i].n, &c, err, sizeof(err)) == 0,
              "case %d: %s", i, err);
        char *text = pretrain_config_text(&c);
        CHECK(text && strstr(text, cases[i].line) && !strstr(text, cases[i].absent),
              "case %d: text\n%s", i, text ? text : "(null)");
        write_text(again, text);
        err[0] = '\0';
        CHECK(pretrain_config_load(again, NULL, 0, &d, err, sizeof(err)) == 0,
              "case %d: the text does not load: %s\n%s", i, err, text);
        CHECK(!memcmp(&c, &d, sizeof c), "case %d: the text loads to other values", i);
        char *text_again = pretrain_config_text(&d);
        CHECK(text_again && !strcmp(text, text_again), "case %d: not a fixed point:\n%s", i,
              text_again ? text_again : "(null)");
        free(text);
        free(text_again);
    }
}

// The shipped pretrain configs load, with what their files say and the defaults they leave.
static void test_shipped_configs(void) {
    const char *root = getenv("ARE_SOURCE_DIR") ? getenv("ARE_SOURCE_DIR") : ".";
    char path[1024], err[1024] = "";
    PretrainConfig c;
    snprintf(path, sizeof(path), "%s/configs/pretrain-smoke.cfg", root);
    CHECK(pretrain_config_load(path, NULL, 0, &c, err, sizeof(err)) == 0, "smoke config: %s", err);
    CHECK(c.model.dim == 32 && c.model.head_dim == 8 && c.model.rope_theta == 10000.0f &&
              c.validation_fraction == 0.1f && c.lr == 2e-2f && c.steps == 100 &&
              !strcmp(c.output, "runs/pretrain-smoke"),
          "smoke config values");
    snprintf(path, sizeof(path), "%s/models/tinychat/pretrain.cfg", root);
    CHECK(pretrain_config_load(path, NULL, 0, &c, err, sizeof(err)) == 0, "tinychat config: %s",
          err);
    CHECK(c.model.dim == 128 && c.model.n_layers == 4 && c.seq_len == 128 && c.steps == 2500 &&
              !strcmp(c.validation, "data/corpus_valid.jsonl") && c.validation_fraction == 0,
          "tinychat config values");
}

int main(void) {
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/are-test-pretrain-%d", (int)getpid());
    char err[256];
    if (make_dirs(tmp_dir, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    be = backend_cpu_create(1);
    test_lr_schedule();
    test_token_windows();
    test_step_gradient_and_clipping();
    test_save_load(true);
    test_save_load(false);
    test_corpus();
    test_config();
    test_config_overrides();
    test_config_text();
    test_shipped_configs();
    be->destroy(be);
    char command[512];
    snprintf(command, sizeof(command), "rm -rf '%s'", tmp_dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return check_summary();
}
