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

static const char synopsis[] =
    "usage: are generate MODEL --prompt TEXT [options]\n"
    "\n"
    "Generates a continuation of the prompt (on --device) and prints each token's text as soon as\n"
    "it is made, stopping at the model's EOS. MODEL is a Hugging Face folder or a .gguf file.\n"
    "\n";

typedef struct {
    const char *model, *prompt, *template_text, *system, *adapter, *steer;
    int max_new_tokens; // 0: the default
    double temperature, top_p;
    long long seed;
    int threads;
    const char *device, *base_weights;
} Args;

// --template and --system: decodes the escapes \n, \t, \" and \\ in place, so that the template
// of a config (whose strings libconfig decodes) can be pasted as is: a shell passes "\n" on as
// two characters. Any other escape (or a lone final backslash) is refused.
static bool take_escaped(void *dest, char *text, char *why, size_t why_len) {
    char *out = text;
    for (const char *in = text; *in; in++) {
        if (*in != '\\') {
            *out++ = *in;
            continue;
        }
        in++;
        if (*in == 'n')
            *out++ = '\n';
        else if (*in == 't')
            *out++ = '\t';
        else if (*in == '\\' || *in == '"')
            *out++ = *in;
        else {
            snprintf(why, why_len,
                     "unknown escape '\\%.1s' (\\n, \\t, \\\" and \\\\ are understood)", in);
            return false;
        }
    }
    *out = '\0';
    *(const char **)dest = text;
    return true;
}

static bool take_base_weights(void *dest, char *value, char *why, size_t why_len) {
    (void)why, (void)why_len;
    *(const char **)dest = value;
    return compute_device_matrix_type(value, "cpu") >= 0;
}

// Returns -1 to go on, or the exit code to return at once.
static int parse_args(int argc, char **argv, Args *a) {
    *a = (Args){.top_p = 1, .device = "auto", .base_weights = "auto"};
    static const char *const devices[] = {"auto", "cpu", "cuda", NULL};
    const Option options[] = {
        {"--prompt", OPTION_STRING, &a->prompt, "TEXT", .help = "the user's text (required)"},
        {"--template", OPTION_CUSTOM, &a->template_text, "STR",
         .help = "chat template with {prompt} and optionally {system}, such as\n"
                 "\"[INST] {prompt} [/INST]\"; \\n, \\t, \\\" and \\\\ in it are a\n"
                 "newline, a tab, a quote and a backslash, as in a config's\n"
                 "template. Default (or \"auto\"): the model's own chat template\n"
                 "(are inspect shows it), the prompt alone when it has none",
         .take = take_escaped},
        {"--system", OPTION_CUSTOM, &a->system, "TEXT",
         .help = "system text for the template's {system} (the same escapes)",
         .take = take_escaped},
        {"--adapter", OPTION_STRING, &a->adapter, "DIR",
         .help = "apply a PEFT LoRA adapter folder"},
        {"--steer", OPTION_STRING, &a->steer, "FILE",
         .help = "add the steering vector of an activation_addition trial file\n"
                 "to the residual stream at its layer"},
        {"--max-new-tokens", OPTION_INT, &a->max_new_tokens, "N",
         .help = "at most N new tokens (default 128, or what the context leaves)", .lo = 1,
         .hi = 1 << 20},
        {"--temperature", OPTION_REAL, &a->temperature, "T",
         .help = "0 for greedy decoding (default), > 0 to sample", .lo = 0, .hi = HUGE_VAL},
        {"--top-p", OPTION_REAL, &a->top_p, "P",
         .help = "sample from the smallest set of tokens with mass P (default 1)", .lo = 0, .hi = 1,
         .open_lo = true},
        {"--seed", OPTION_INT64, &a->seed, "S", .help = "seed of the sampling (default 0)", .lo = 0,
         .hi = 9007199254740992.0, .expects = "an integer in 0..2^53"},
        option_threads(&a->threads, "CPU threads (default: every core)"),
        {"--device", OPTION_STRING, &a->device, "D",
         .help = "auto (default: a GPU when there is one), cpu or cuda", .choices = devices},
        {"--base-weights", OPTION_CUSTOM, &a->base_weights, "W",
         .help = "auto (bf16 on a GPU, fp32 on a CPU), fp32, bf16 or fp16",
         .take = take_base_weights, .expects = "auto, fp32, bf16 or fp16"},
    };
    CommandLine cl = {"generate",
                      synopsis,
                      .operand = "MODEL",
                      .operand_value = &a->model,
                      .operand_required = true,
                      .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    int rc = cli_parse(&cl, argc, argv);
    if (rc < 0 && !a->prompt) return cli_usage_error(&cl, "--prompt is required");
    return rc;
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
