// `are truncate MODEL.gguf --layers N -o OUT.gguf`: a llama GGUF model cut to its first N
// blocks, small enough to travel where the whole file cannot (a GPU check machine).
#include "cli_args.h"
#include "commands.h"
#include "gguf.h"
#include "gguf_model.h"
#include "gguf_writer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Keeps SmolLM2-135M-Instruct's Q4_1 file (98.4 MB, 30 blocks) under 48 MB: its Q8_0 embedding
// and the metadata take 31.9 MB, each block 2.2 MB, so 7 blocks make 47.4 MB.
#define DEFAULT_LAYERS 7

static const char synopsis[] =
    "usage: are truncate MODEL.gguf -o OUT.gguf [--layers N]\n"
    "\n"
    "Writes OUT.gguf: the llama or qwen2 GGUF model cut to its first N blocks, for checks on\n"
    "machines that cannot receive the whole file. It keeps the embedding, the final norm, the LM\n"
    "head (when not tied to the embedding) and blocks 0..N-1, byte for byte in their stored\n"
    "types, and every metadata key (tokenizer, chat template, ...) with llama.block_count (or\n"
    "qwen2.block_count) set to N and are.truncated.source / are.truncated.source_block_count\n"
    "recording the model it came from.\n"
    "The copy's hidden_states[0..N-1] equal the model's; its hidden_states[N] is the final norm\n"
    "of the model's hidden_states[N].\n"
    "\n";

// The block a tensor belongs to ("blk.12.attn_q.weight" -> 12), or -1 for a whole-model one.
static long block_of(GgufString name) {
    const char prefix[] = "blk.";
    size_t n = sizeof(prefix) - 1, i = n;
    if (name.len <= n || memcmp(name.ptr, prefix, n)) return -1;
    long block = 0;
    while (i < name.len && name.ptr[i] >= '0' && name.ptr[i] <= '9' && block < INT_MAX)
        block = block * 10 + (name.ptr[i++] - '0');
    return i > n && i < name.len && name.ptr[i] == '.' ? block : -1;
}

static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

// Writes the truncated copy and reports it; an exit code.
static int truncate_model(const char *model, int layers_arg, const char *out) {
    char err[1024] = "";
    LlamaConfig cfg;
    Gguf *g = gguf_open(model, err, sizeof err);
    if (!g || gguf_llama_config(g, &cfg, err, sizeof err) < 0 ||
        gguf_llama_check(g, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "are truncate: %s\n", err);
        gguf_close(g);
        return EXIT_FAILED;
    }
    int layers = layers_arg > 0 ? layers_arg : DEFAULT_LAYERS;
    if (cfg.n_layers < 2 || layers >= cfg.n_layers) {
        if (cfg.n_layers < 2)
            fprintf(stderr, "are truncate: %s has a single block: there is nothing to cut\n",
                    model);
        else
            fprintf(stderr, "are truncate: --layers %d%s: %s has %d blocks, so N must be 1..%d\n",
                    layers, layers_arg > 0 ? "" : " (the default)", model, cfg.n_layers,
                    cfg.n_layers - 1);
        gguf_close(g);
        return EXIT_USAGE;
    }

    // The kept tensors in the model's order; gguf_llama_check has refused any other tensor.
    int n = gguf_n_tensors(g), kept = 0;
    const GgufTensor **tensors = malloc((size_t)n * sizeof *tensors);
    if (!tensors) {
        fprintf(stderr, "are truncate: out of memory\n");
        gguf_close(g);
        return EXIT_FAILED;
    }
    for (int i = 0; i < n; i++)
        if (block_of(gguf_tensor(g, i)->name) < layers) tensors[kept++] = gguf_tensor(g, i);
    // The block count is "<general.architecture>.block_count" (llama, qwen2), which
    // gguf_llama_config has read.
    GgufString arch = {0};
    char block_count[96];
    gguf_get_string(g, "general.architecture", &arch, err, sizeof err);
    snprintf(block_count, sizeof block_count, "%.*s.block_count",
             (int)(arch.len < 64 ? arch.len : 64), arch.ptr);
    GgufValue set[] = {
        {.key = block_count, .type = GGUF_UINT32, .i = layers},
        {.key = "are.truncated.source", .type = GGUF_STRING, .s = base_name(model)},
        {.key = "are.truncated.source_block_count", .type = GGUF_UINT32, .i = cfg.n_layers},
    };
    int rc =
        gguf_write_copy(out, g, set, sizeof set / sizeof set[0], tensors, kept, err, sizeof err);
    free(tensors);
    gguf_close(g);
    struct stat st;
    if (rc < 0 || stat(out, &st) != 0) {
        fprintf(stderr, "are truncate: %s\n", rc < 0 ? err : "the written file is gone");
        return EXIT_FAILED;
    }
    printf("wrote %s: %d of %d blocks, %d tensors, %lld bytes (%.1f MB)\n", out, layers,
           cfg.n_layers, kept, (long long)st.st_size, st.st_size / 1e6);
    return EXIT_OK;
}

int cmd_truncate(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    int layers = 0; // 0: the default
    const Option options[] = {
        {"--layers", OPTION_INT, &layers, "N",
         .help = "blocks to keep, 1 to the model's count - 1 (default 7: SmolLM2-135M's\n"
                 "Q4_1 file, 98 MB, becomes 47.4 MB)",
         .lo = 1, .hi = INT_MAX, .expects = "a whole number of at least 1"},
        {"--out", OPTION_STRING, &out, "FILE",
         .help = "the file to write; an existing one is replaced, and FILE.tmp is written\n"
                 "first and renamed, so FILE is never left half-written",
         .alias = "-o"},
    };
    CommandLine cl = {"truncate",
                      synopsis,
                      .operand = "MODEL",
                      .operand_value = &model,
                      .operand_required = true,
                      .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    int rc = cli_parse(&cl, argc, argv);
    if (rc >= 0) return rc;
    if (!out) return cli_usage_error(&cl, "no -o OUT.gguf given");
    if (same_file(model, out)) {
        fprintf(stderr, "are truncate: -o %s is the model itself; write the copy elsewhere\n", out);
        return EXIT_USAGE;
    }
    return truncate_model(model, layers, out);
}
