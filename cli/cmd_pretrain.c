// `are pretrain CONFIG`: full-parameter training of a Llama from scratch on a text corpus, with
// periodic validation loss and checkpoints, saved as a Hugging Face folder.
//
// The output folder always holds a loadable model once the first checkpoint is written:
// config.json, model.safetensors, tokenizer.json (and tokenizer_config.json when the tokenizer
// has one), pretrain.cfg (the training config as resolved: the file with its --set overrides
// applied, every default written out), and
// checkpoint.safetensors (the weights, the AdamW moments and the step, in one file renamed into
// place, so a crash never leaves a half-written checkpoint).
#include "backend_cpu.h"
#include "cli_args.h"
#include "commands.h"
#include "duration_text.h"
#include "fs.h"
#include "model_load.h"
#include "monotonic_clock.h"
#include "pretrain.h"
#include "pretrain_config.h"
#include "rng.h"
#include "run_args.h"
#include "safetensors.h"
#include "text_corpus.h"
#include "tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECKPOINT_NAME   "checkpoint.safetensors"
#define CHECKPOINT_FORMAT "are-pretrain-checkpoint-1"

static const char synopsis[] =
    "usage: are pretrain CONFIG [options]\n"
    "\n"
    "Trains a Llama model from scratch on the CPU as CONFIG describes (model size, tokenizer,\n"
    "training text, AdamW with warmup and cosine decay, gradient clipping, validation and\n"
    "checkpoint intervals) and writes it as a Hugging Face folder (the config's output).\n"
    "The folder's pretrain.cfg is the config as resolved (CONFIG with every --set applied,\n"
    "every default written out); --resume refuses a config that resolves to other settings.\n"
    "\n";

typedef struct {
    RunArgs run;        // CONFIG, its --set overrides, --threads
    const char *output; // NULL: the config's
    bool resume;
    int stop_at; // 0: run to the config's steps
} Args;

// parse_int_arg into an int (the ranges used here fit one).
static bool parse_int(const char *text, int lo, int hi, int *out) {
    long long x;
    if (!parse_int_arg(text, lo, hi, &x)) return false;
    *out = (int)x;
    return true;
}

// --output: a folder name that fits the config's output field.
static bool take_output(void *dest, char *value, char *why, size_t why_len) {
    (void)why, (void)why_len;
    if (!value[0] || strlen(value) >= PRETRAIN_PATH_MAX) return false;
    *(const char **)dest = value;
    return true;
}

// Returns -1 to go on, or the exit code to return at once.
static int parse_args(int argc, char **argv, Args *a) {
    *a = (Args){0};
    const Option options[] = {
        {"--resume", OPTION_FLAG, &a->resume, NULL,
         .help = "continue from the output folder's last checkpoint (bit-identical to\n"
                 "a run that never stopped)"},
        {"--output", OPTION_CUSTOM, &a->output, "DIR",
         .help = "write the model to DIR instead of the config's output", .take = take_output,
         .expects = "a folder"},
        {"--stop-at", OPTION_INT, &a->stop_at, "STEP",
         .help = "stop after STEP steps with a checkpoint, to --resume later", .lo = 1,
         .hi = 1 << 30},
        run_option_set(&a->run, "set a config field, e.g. --set train.steps=500 (repeatable)"),
        option_threads(&a->run.threads, "CPU threads (default: every core)"),
    };
    CommandLine cl = {"pretrain",
                      synopsis,
                      .operand = "CONFIG",
                      .operand_value = &a->run.config,
                      .operand_required = true,
                      .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    return cli_parse(&cl, argc, argv);
}

// Everything one run holds, released by release().
typedef struct {
    PretrainConfig cfg;
    Tokenizer *tok;
    TextCorpus train_text, valid_text;
    int *train_stream, *valid_stream; // concatenated documents, each ending in EOS
    size_t n_train, n_valid;
    TokenWindows train, valid;
    Backend *be;
    LlamaModel model;
    Pretrainer trainer;
    int *tokens, *targets; // [batch_seqs * seq_len] host, one batch
    float *host_state;     // [3 * n_floats] weights and moments, for checkpoints
    char *config_text;     // pretrain_config_text: kept in checkpoints to refuse a changed config
} Run;

static void release(Run *r) {
    if (r->trainer.model) pretrainer_free(&r->trainer);
    if (r->be) {
        llama_free(&r->model);
        r->be->destroy(r->be);
    }
    token_windows_free(&r->train);
    token_windows_free(&r->valid);
    free(r->train_stream);
    free(r->valid_stream);
    text_corpus_free(&r->train_text);
    text_corpus_free(&r->valid_text);
    tokenizer_free(r->tok);
    free(r->tokens);
    free(r->targets);
    free(r->host_state);
    free(r->config_text);
}

// The documents (or with keep, those whose keep[i] is set) as one token stream: each document
// as the tokenizer encodes it (with BOS when the tokenizer adds one) followed by EOS.
static int tokenize(const Run *r, const TextCorpus *c, const bool *keep, bool want, int **stream,
                    size_t *n, char *err, size_t err_len) {
    int eos = tokenizer_eos(r->tok);
    bool bos = tokenizer_adds_bos(r->tok) && tokenizer_bos(r->tok) >= 0;
    size_t cap = 0, len = 0;
    *stream = NULL;
    for (int d = 0; d < c->n_docs; d++) {
        if (keep && keep[d] != want) continue;
        // First guess: a token per byte plus BOS (and EOS after); encode again if short.
        size_t room = c->lens[d] + 1;
        for (int attempt = 0; attempt < 2; attempt++) {
            if (len + room + 1 > cap) {
                size_t grown_cap = len + room + 1 > 2 * cap ? len + room + 1 : 2 * cap;
                int *grown = realloc(*stream, grown_cap * sizeof(int));
                if (!grown) {
                    snprintf(err, err_len, "out of memory tokenizing the text");
                    return -1;
                }
                *stream = grown;
                cap = grown_cap;
            }
            int got = tokenizer_encode(r->tok, c->docs[d], c->lens[d], bos, *stream + len,
                                       (int)(cap - len - 1));
            if (got < 0) {
                snprintf(err, err_len, "document %d: the tokenizer failed on it", d + 1);
                return -1;
            }
            room = (size_t)got;
            if (len + room + 1 <= cap) break;
        }
        len += room;
        if (eos >= 0) (*stream)[len++] = eos;
    }
    *n = len;
    return 0;
}

// Training and validation token streams: the validation file, or a seeded choice of
// validation_fraction of the documents (at least one, never all).
static int load_text(Run *r, char *err, size_t err_len) {
    const PretrainConfig *c = &r->cfg;
    if (text_corpus_load(c->text, &r->train_text, err, err_len) < 0) return -1;
    if (c->validation[0]) {
        if (text_corpus_load(c->validation, &r->valid_text, err, err_len) < 0 ||
            tokenize(r, &r->train_text, NULL, true, &r->train_stream, &r->n_train, err, err_len) <
                0 ||
            tokenize(r, &r->valid_text, NULL, true, &r->valid_stream, &r->n_valid, err, err_len) <
                0)
            return -1;
        return 0;
    }
    int n_docs = r->train_text.n_docs;
    int n_valid = (int)lround(c->validation_fraction * n_docs);
    if (c->validation_fraction > 0 && n_valid < 1) n_valid = 1;
    if (n_valid >= n_docs) n_valid = n_docs - 1;
    bool *held_out = calloc((size_t)n_docs, sizeof(bool));
    int *order = malloc((size_t)n_docs * sizeof(int));
    if (!held_out || !order) {
        free(held_out);
        free(order);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    Rng rng;
    rng_seed(&rng, rng_derive((uint64_t)c->seed, 0xda7a));
    for (int i = 0; i < n_docs; i++) order[i] = i;
    for (int i = n_docs; i > 1; i--) {
        int j = (int)(rng_next(&rng) % (uint64_t)i), tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    for (int i = 0; i < n_valid; i++) held_out[order[i]] = true;
    int rc =
        tokenize(r, &r->train_text, held_out, false, &r->train_stream, &r->n_train, err, err_len);
    if (rc == 0)
        rc = tokenize(r, &r->train_text, held_out, true, &r->valid_stream, &r->n_valid, err,
                      err_len);
    free(held_out);
    free(order);
    return rc;
}

static int setup(Run *r, const Args *a, char *err, size_t err_len) {
    const RunArgs *run = &a->run;
    if (pretrain_config_load(run->config, run->overrides, run->n_overrides, &r->cfg, err, err_len) <
        0)
        return -1;
    // Recorded before --output: where a run is written is not one of its settings, so a folder
    // moved elsewhere resumes with --output naming its new place.
    if (!(r->config_text = pretrain_config_text(&r->cfg))) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    if (a->output) snprintf(r->cfg.output, sizeof(r->cfg.output), "%s", a->output);
    if (!(r->tok = tokenizer_load_json(r->cfg.tokenizer, err, err_len)) ||
        load_text(r, err, err_len) < 0)
        return -1;
    const PretrainConfig *c = &r->cfg;
    if (token_windows_init(&r->train, r->train_stream, r->n_train, c->seq_len, (uint64_t)c->seed) <
        0) {
        snprintf(err, err_len, "%s: %zu training tokens, fewer than one sequence of %d + 1",
                 c->text, r->n_train, c->seq_len);
        return -1;
    }
    // A validation set shorter than one sequence is left out (n_windows 0).
    if (r->n_valid > (size_t)c->seq_len &&
        token_windows_init(&r->valid, r->valid_stream, r->n_valid, c->seq_len, 0) < 0) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    r->model.cfg = c->model;
    r->model.cfg.vocab_size = tokenizer_vocab_size(r->tok);
    r->be = backend_cpu_create(run->threads);
    if (!r->be) {
        snprintf(err, err_len, "out of memory creating the CPU backend");
        return -1;
    }
    r->model.be = r->be;
    if (llama_weights_alloc(&r->model.w, &r->model.cfg, r->be, MATRIX_F32) < 0) {
        snprintf(err, err_len, "out of memory for the model's weights");
        return -1;
    }
    llama_weights_init_random(&r->model.w, &r->model.cfg, r->be, c->init_std,
                              (unsigned long long)c->seed);
    PretrainOptions o = {
        .adamw = {.beta1 = c->beta1,
                  .beta2 = c->beta2,
                  .eps = c->eps,
                  .weight_decay = c->weight_decay},
        .schedule = {.lr = c->lr,
                     .min_lr = c->min_lr,
                     .warmup_steps = c->warmup_steps,
                     .steps = c->steps},
        .clip_norm = c->clip_norm,
        .batch_seqs = c->batch_seqs,
        .seq_len = c->seq_len,
    };
    if (pretrainer_init(&r->trainer, &r->model, &o, err, err_len) < 0) return -1;
    size_t T = (size_t)c->batch_seqs * (size_t)c->seq_len;
    r->tokens = malloc(T * sizeof(int));
    r->targets = malloc(T * sizeof(int));
    r->host_state = malloc(3 * r->model.w.n_floats * sizeof(float));
    if (!r->tokens || !r->targets || !r->host_state) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    return 0;
}

// --- checkpoints -------------------------------------------------------------------------------

static int save_checkpoint(Run *r, char *err, size_t err_len) {
    const PretrainConfig *c = &r->cfg;
    Backend *be = r->be;
    size_t n = r->model.w.n_floats;
    if (model_save(&r->model, c->output, tokenizer_bos(r->tok), tokenizer_eos(r->tok), err,
                   err_len) < 0)
        return -1;
    be->to_host(be, r->host_state, r->model.w.memory, n * sizeof(float));
    be->to_host(be, r->host_state + n, r->trainer.opt.m, n * sizeof(float));
    be->to_host(be, r->host_state + 2 * n, r->trainer.opt.v, n * sizeof(float));
    static const char *const names[3] = {"params", "adam_m", "adam_v"};
    SafetensorsWriteTensor tensors[3];
    for (int i = 0; i < 3; i++)
        tensors[i] = (SafetensorsWriteTensor){.name = names[i],
                                              .dtype = ST_F32,
                                              .n_dims = 1,
                                              .shape = {(int64_t)n},
                                              .data = r->host_state + (size_t)i * n};
    char step[32], path[PRETRAIN_PATH_MAX + 64];
    snprintf(step, sizeof(step), "%d", r->trainer.opt.step);
    SafetensorsMetadata meta[3] = {
        {"format", CHECKPOINT_FORMAT}, {"step", step}, {"config", r->config_text}};
    snprintf(path, sizeof(path), "%s/" CHECKPOINT_NAME, c->output);
    return safetensors_write(path, tensors, 3, meta, 3, err, err_len);
}

static int load_checkpoint(Run *r, char *err, size_t err_len) {
    char path[PRETRAIN_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/" CHECKPOINT_NAME, r->cfg.output);
    SafetensorsFile *f = safetensors_open(path, err, err_len);
    if (!f) return -1;
    size_t n = r->model.w.n_floats;
    const char *format = safetensors_metadata(f, "format");
    const char *step_text = safetensors_metadata(f, "step");
    int step = 0, rc = -1;
    if (!format || strcmp(format, CHECKPOINT_FORMAT) || !step_text ||
        !parse_int(step_text, 0, r->cfg.steps, &step)) {
        snprintf(err, err_len, "%s: not a checkpoint of `are pretrain` (format or step)", path);
        goto done;
    }
    const char *config = safetensors_metadata(f, "config");
    if (!config || strcmp(config, r->config_text)) {
        snprintf(err, err_len,
                 "%s was made with another config (its copy is %s/pretrain.cfg): resume with "
                 "that one",
                 path, r->cfg.output);
        goto done;
    }
    static const char *const names[3] = {"params", "adam_m", "adam_v"};
    for (int i = 0; i < 3; i++) {
        const SafetensorsTensor *t = safetensors_find(f, names[i]);
        if (!t) {
            snprintf(err, err_len, "%s: no tensor '%s'", path, names[i]);
            goto done;
        }
        if (safetensors_read_f32(f, t, r->host_state + (size_t)i * n, n, err, err_len) < 0) {
            size_t len = strlen(err);
            snprintf(err + len, err_len - len, " (was the checkpoint made with another model?)");
            goto done;
        }
    }
    Backend *be = r->be;
    be->to_device(be, r->model.w.memory, r->host_state, n * sizeof(float));
    be->to_device(be, r->trainer.opt.m, r->host_state + n, n * sizeof(float));
    be->to_device(be, r->trainer.opt.v, r->host_state + 2 * n, n * sizeof(float));
    r->trainer.opt.step = step;
    rc = 0;
done:
    safetensors_close(f);
    return rc;
}

// --- the loop ----------------------------------------------------------------------------------

// Mean next-token loss over every validation window; NAN when there is no validation set.
static double validation_loss(Run *r) {
    if (!r->valid.n_windows) return NAN;
    int B = r->cfg.batch_seqs, L = r->cfg.seq_len;
    double total = 0;
    long long count = 0;
    for (size_t first = 0; first < r->valid.n_windows; first += (size_t)B) {
        size_t left = r->valid.n_windows - first;
        int n = left < (size_t)B ? (int)left : B;
        for (int s = 0; s < n; s++)
            token_windows_get(&r->valid, first + (size_t)s, r->tokens + (size_t)s * L,
                              r->targets + (size_t)s * L);
        double sum;
        long long counted;
        pretrainer_eval(&r->trainer, n, r->tokens, r->targets, &sum, &counted);
        total += sum;
        count += counted;
    }
    return total / (double)count;
}

// One progress line: on a terminal rewritten in place every step, otherwise a plain line at
// the first step of this run, about every 2% of the run, and the last step.
static void report_step(const Run *r, const PretrainStepStats *st, int first_step, double started,
                        bool tty) {
    int done = r->trainer.opt.step, steps = r->cfg.steps;
    int every = steps / 50 > 0 ? steps / 50 : 1;
    if (!tty && done % every && done != steps && done != first_step + 1) return;
    double elapsed = monotonic_seconds() - started;
    double per_step = elapsed / (done - first_step);
    double tokens = (double)(done - first_step) * r->cfg.batch_seqs * r->cfg.seq_len;
    char eta[32];
    duration_text(per_step * (steps - done), eta, sizeof(eta));
    fprintf(stderr, "%sstep %d/%d  loss %.4f  lr %.2e  grad norm %.3f  %.0f tok/s  ETA %s%s",
            tty ? "\r" : "", done, steps, st->loss, st->lr, st->grad_norm, tokens / elapsed, eta,
            tty ? "\033[K" : "\n");
}

static int train(Run *r, const Args *a, char *err, size_t err_len) {
    const PretrainConfig *c = &r->cfg;
    int stop = a->stop_at && a->stop_at < c->steps ? a->stop_at : c->steps;
    int first_step = r->trainer.opt.step;
    bool tty = isatty(STDERR_FILENO);
    fprintf(stderr,
            "are pretrain: %zu parameters, %zu training tokens (%zu sequences of %d), %zu "
            "validation tokens, %d tokens per step, from step %d to %d\n",
            r->model.w.n_floats, r->n_train, r->train.n_windows, c->seq_len, r->n_valid,
            c->batch_seqs * c->seq_len, first_step, stop);
    double started = monotonic_seconds();
    PretrainStepStats st = {0};
    while (r->trainer.opt.step < stop) {
        long long first = (long long)r->trainer.opt.step * c->batch_seqs;
        token_windows_batch(&r->train, first, c->batch_seqs, r->tokens, r->targets);
        if (pretrainer_step(&r->trainer, r->tokens, r->targets, &st, err, err_len) < 0) return -1;
        report_step(r, &st, first_step, started, tty);
        int done = r->trainer.opt.step;
        bool last = done == stop;
        if ((c->eval_every && done % c->eval_every == 0) || done == c->steps) {
            double loss = validation_loss(r);
            if (!isnan(loss))
                fprintf(stderr, "%sstep %d/%d  validation loss %.4f\n", tty ? "\n" : "", done,
                        c->steps, loss);
        }
        if ((c->checkpoint_every && done % c->checkpoint_every == 0) || last) {
            if (save_checkpoint(r, err, err_len) < 0) return -1;
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "step %d/%d  checkpoint written to %s\n", done, c->steps, c->output);
        }
    }
    return 0;
}

static int write_text(FILE *f, void *text) {
    return fputs(text, f) < 0 ? -1 : 0;
}

// tokenizer_config.json beside the tokenizer (BOS added or not, the special tokens) goes with
// it, so that the model folder encodes prompts exactly as training encoded the text.
static int copy_tokenizer_config(const char *tokenizer, const char *dir, char *err,
                                 size_t err_len) {
    const char *slash = strrchr(tokenizer, '/');
    char path[PRETRAIN_PATH_MAX + 32];
    snprintf(path, sizeof path, "%.*stokenizer_config.json",
             slash ? (int)(slash - tokenizer + 1) : 0, tokenizer);
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return copy_file(path, dir, "tokenizer_config.json", err, err_len);
}

int cmd_pretrain(int argc, char **argv) {
    Args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    Run r = {0};
    char err[4096] = "", checkpoint[PRETRAIN_PATH_MAX + 64], config_copy[PRETRAIN_PATH_MAX + 64];
    rc = EXIT_FAILED;
    if (setup(&r, &a, err, sizeof(err)) < 0) goto done;
    snprintf(checkpoint, sizeof(checkpoint), "%s/" CHECKPOINT_NAME, r.cfg.output);
    snprintf(config_copy, sizeof(config_copy), "%s/pretrain.cfg", r.cfg.output);
    struct stat st;
    bool has_checkpoint = stat(checkpoint, &st) == 0;
    if (a.resume && !has_checkpoint) {
        snprintf(err, sizeof(err), "%s: no checkpoint to resume from", checkpoint);
        goto done;
    }
    if (!a.resume && has_checkpoint) {
        snprintf(err, sizeof(err),
                 "%s already holds a checkpoint: pass --resume to continue it, or choose "
                 "another output",
                 r.cfg.output);
        goto done;
    }
    if ((a.resume && load_checkpoint(&r, err, sizeof(err)) < 0) ||
        make_dirs(r.cfg.output, err, sizeof(err)) < 0 ||
        copy_file(r.cfg.tokenizer, r.cfg.output, "tokenizer.json", err, sizeof(err)) < 0 ||
        copy_tokenizer_config(r.cfg.tokenizer, r.cfg.output, err, sizeof(err)) < 0 ||
        replace_file(config_copy, write_text, r.config_text, err, sizeof(err)) < 0 ||
        train(&r, &a, err, sizeof(err)) < 0)
        goto done;
    rc = EXIT_OK;
done:
    if (rc != EXIT_OK) fprintf(stderr, "are pretrain: %s\n", err);
    release(&r);
    return rc;
}
