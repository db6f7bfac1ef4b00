// `are generate MODEL --prompt TEXT ...`: a prompt's continuation on a CPU or GPU, streamed.
#include "backend_cpu.h"
#include "chat_template.h"
#include "cli_args.h"
#include "commands.h"
#include "generate.h"
#include "model_chat_template.h"
#include "model_session.h"
#include "model_steer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_NEW_TOKENS 128

static const char usage[] =
    "usage: are generate MODEL --prompt TEXT [options]\n"
    "\n"
    "Generates a continuation of the prompt (on --device) and prints each token's text as soon as\n"
    "it is made, stopping at the model's EOS. MODEL is a Hugging Face folder or a .gguf file.\n"
    "\n"
    "  --prompt TEXT         the user's text (required)\n"
    "  --template STR        chat template with {prompt} and optionally {system}, such as\n"
    "                        \"[INST] {prompt} [/INST]\"; \\n, \\t, \\\" and \\\\ in it are a\n"
    "                        newline, a tab, a quote and a backslash, as in a config's\n"
    "                        template. Default (or \"auto\"): the model's own chat template\n"
    "                        (are inspect shows it), the prompt alone when it has none\n"
    "  --system TEXT         system text for the template's {system} (the same escapes)\n"
    "  --adapter DIR         apply a PEFT LoRA adapter folder\n"
    "  --steer FILE          add the steering vector of an activation_addition trial file\n"
    "                        to the residual stream at its layer\n"
    "  --max-new-tokens N    at most N new tokens (default 128, or what the context leaves)\n"
    "  --temperature T       0 for greedy decoding (default), > 0 to sample\n"
    "  --top-p P             sample from the smallest set of tokens with mass P (default 1)\n"
    "  --seed S              seed of the sampling (default 0)\n"
    "  --threads N           CPU threads (default: every core)\n"
    "  --device D            auto (default: a GPU when there is one), cpu or cuda\n"
    "  --base-weights W      auto (bf16 on a GPU, fp32 on a CPU), fp32, bf16 or fp16\n"
    "  -h, --help            this text\n";

typedef struct {
    const char *model, *prompt, *template_text, *system, *adapter, *steer;
    int max_new_tokens; // 0: the default
    float temperature, top_p;
    unsigned long long seed;
    int threads;
    const char *device, *base_weights;
} Args;

// Decodes the escapes \n, \t, \" and \\ of a command-line template or system text in place, so that
// the template of a config (whose strings libconfig decodes) can be pasted as is: a shell passes
// "\n" on as two characters. Returns NULL, or the first other escape (or a lone final backslash).
static const char *unescape(char *text) {
    char *out = text;
    for (const char *in = text; *in; in++) {
        if (*in != '\\') {
            *out++ = *in;
            continue;
        }
        const char *escape = in++;
        if (*in == 'n')
            *out++ = '\n';
        else if (*in == 't')
            *out++ = '\t';
        else if (*in == '\\' || *in == '"')
            *out++ = *in;
        else
            return escape;
    }
    *out = '\0';
    return NULL;
}

// Returns -1 to go on, or the exit code to return at once.
static int parse_args(int argc, char **argv, Args *a) {
    *a = (Args){.top_p = 1, .device = "auto", .base_weights = "auto"};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (opt[0] != '-') {
            if (a->model) {
                fprintf(stderr, "are generate: a second MODEL '%s'\n%s", opt, usage);
                return EXIT_USAGE;
            }
            a->model = opt;
            continue;
        }
        if (i + 1 == argc) {
            fprintf(stderr, "are generate: unknown option or missing value: '%s'\n%s", opt, usage);
            return EXIT_USAGE;
        }
        char *value = argv[++i];
        const char *expects = NULL; // what a numeric option takes, for the message
        long long n = 0;
        double x = 0;
        bool ok = true;
        if (!strcmp(opt, "--prompt")) {
            a->prompt = value;
        } else if (!strcmp(opt, "--template") || !strcmp(opt, "--system")) {
            const char *escape = unescape(value);
            if (escape) {
                fprintf(stderr,
                        "are generate: %s: unknown escape '\\%.1s' (\\n, \\t, \\\" and \\\\ "
                        "are understood)\n",
                        opt, escape + 1);
                return EXIT_USAGE;
            }
            if (!strcmp(opt, "--template"))
                a->template_text = value;
            else
                a->system = value;
        } else if (!strcmp(opt, "--adapter")) {
            a->adapter = value;
        } else if (!strcmp(opt, "--steer")) {
            a->steer = value;
        } else if (!strcmp(opt, "--max-new-tokens")) {
            expects = "an integer in 1..1048576";
            ok = parse_int_arg(value, 1, 1 << 20, &n);
            a->max_new_tokens = (int)n;
        } else if (!strcmp(opt, "--temperature")) {
            expects = "a number >= 0";
            ok = parse_real_arg(value, 0, HUGE_VAL, &x);
            a->temperature = (float)x;
        } else if (!strcmp(opt, "--top-p")) {
            expects = "a number in (0, 1]";
            ok = parse_real_arg(value, 0, 1, &x) && x > 0;
            a->top_p = (float)x;
        } else if (!strcmp(opt, "--seed")) {
            expects = "an integer in 0..2^53";
            ok = parse_int_arg(value, 0, 1LL << 53, &n);
            a->seed = (unsigned long long)n;
        } else if (!strcmp(opt, "--threads")) {
            expects = "an integer in 1..4096";
            ok = parse_int_arg(value, 1, 4096, &n);
            a->threads = (int)n;
        } else if (!strcmp(opt, "--device")) {
            expects = "auto, cpu or cuda";
            ok = !strcmp(value, "auto") || !strcmp(value, "cpu") || !strcmp(value, "cuda");
            a->device = value;
        } else if (!strcmp(opt, "--base-weights")) {
            expects = "auto, fp32, bf16 or fp16";
            ok = compute_device_matrix_type(value, "cpu") >= 0;
            a->base_weights = value;
        } else {
            fprintf(stderr, "are generate: unknown option '%s'\n%s", opt, usage);
            return EXIT_USAGE;
        }
        if (!ok) {
            fprintf(stderr, "are generate: %s expects %s, got '%s'\n", opt, expects, value);
            return EXIT_USAGE;
        }
    }
    if (!a->model || !a->prompt) {
        fprintf(stderr, "are generate: %s\n%s",
                a->model ? "--prompt is required" : "no MODEL given", usage);
        return EXIT_USAGE;
    }
    return -1;
}

// Everything one generation holds, released by release().
typedef struct {
    ModelSession ms;
    LlamaWorkspace *ws;
    int *prompt;
    int n_prompt;
    int *out;
} Session;

static void release(Session *s) {
    llama_workspace_free(s->ws);
    model_unsteer(&s->ms);
    model_session_close(&s->ms);
    free(s->prompt);
    free(s->out);
}

static void stream_token(void *ctx, int seq, int token) {
    const ModelSession *ms = ctx;
    (void)seq;
    if (model_session_is_stop(ms, token)) return;
    char bytes[256];
    int len = tokenizer_token_bytes(ms->tok, token, bytes, sizeof(bytes));
    if (len >= (int)sizeof(bytes)) { // a long piece: fetch it whole
        char *all = malloc((size_t)len + 1);
        if (all && tokenizer_token_bytes(ms->tok, token, all, (size_t)len + 1) == len)
            fwrite(all, 1, (size_t)len, stdout);
        free(all);
    } else if (len > 0) {
        fwrite(bytes, 1, (size_t)len, stdout);
    }
    fflush(stdout);
}

// The prompt after the template (the given one, else the model's own) with the system text,
// as token ids. 0, or -1 with err.
static int encode(Session *s, const Args *a, char *err, size_t err_len) {
    char *template_text = model_chat_template_resolve(a->model, s->ms.tok, a->template_text,
                                                      a->system != NULL, err, err_len);
    char *text = template_text
                     ? chat_template_apply(template_text, a->system, a->prompt, err, err_len)
                     : NULL;
    int rc = text ? model_session_encode(&s->ms, NULL, text, &s->prompt, &s->n_prompt, err, err_len)
                  : -1;
    free(text);
    free(template_text);
    return rc;
}

static int generate(Session *s, const Args *a, char *err, size_t err_len) {
    int context = s->ms.model.cfg.max_seq_len, room = context - s->n_prompt;
    int max_new = a->max_new_tokens
                      ? a->max_new_tokens
                      : (room < DEFAULT_MAX_NEW_TOKENS ? room : DEFAULT_MAX_NEW_TOKENS);
    if (max_new < 1 || max_new > room) {
        snprintf(err, err_len,
                 "the prompt has %d tokens: with %d new ones that exceeds the model's context of "
                 "%d tokens",
                 s->n_prompt, max_new < 1 ? 1 : max_new, context);
        return -1;
    }
    WorkspacePlan plan = {.max_tokens = s->n_prompt,
                          .max_seqs = 1,
                          .max_seq_len = s->n_prompt + max_new,
                          .outputs = {.logits = true},
                          .kv_slots = 1};
    s->ws = llama_workspace_create(&s->ms.model, &plan, err, err_len);
    s->out = malloc((size_t)max_new * sizeof(int));
    if (!s->ws || !s->out) {
        if (s->ws) snprintf(err, err_len, "out of memory");
        return -1;
    }
    GenerateOptions opt = {.max_new_tokens = max_new,
                           .temperature = a->temperature,
                           .top_p = a->top_p,
                           .seed = a->seed,
                           .stop_tokens = s->ms.stop,
                           .n_stop = s->ms.n_stop,
                           .on_token = stream_token,
                           .on_token_ctx = &s->ms};
    TokenBatch batch = {.n_seqs = 1, .seq_len = &s->n_prompt, .tokens = s->prompt};
    int out_len;
    if (llama_generate(&s->ms.model, s->ws, &batch, &opt, s->out, &out_len) < 0) {
        snprintf(err, err_len, "%s", llama_workspace_error(s->ws));
        return -1;
    }
    putchar('\n');
    return 0;
}

int cmd_generate(int argc, char **argv) {
    Args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    if (a.template_text && strcmp(a.template_text, CHAT_TEMPLATE_AUTO)) {
        char err[512];
        if (chat_template_check(a.template_text, a.system != NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "are generate: %s\n", err);
            return EXIT_USAGE;
        }
    }

    Session s = {0};
    char err[1024] = "";
    rc = EXIT_OK;
    DeviceChoice dev = {a.device, a.base_weights, a.threads, -1};
    if (model_session_open(&s.ms, a.model, a.adapter, &dev, err, sizeof(err)) < 0 ||
        (a.steer && model_steer(&s.ms, a.steer, err, sizeof(err)) < 0) ||
        encode(&s, &a, err, sizeof(err)) < 0 || generate(&s, &a, err, sizeof(err)) < 0)
        rc = EXIT_FAILED;
    if (rc != EXIT_OK) fprintf(stderr, "are generate: %s\n", err);
    release(&s);
    return rc;
}
