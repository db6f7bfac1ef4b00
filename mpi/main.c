// `are`: Adversarial Representation Engineering on Llama-family models, and sweeps of it
// across an MPI job. Dispatches to one subcommand; MPI is initialised once for all of them.
#include "commands.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"info", cmd_info, "build, backends and where each MPI rank runs (threads, GPU)"},
    {"inspect", cmd_inspect, "describe a model: dimensions, parameters, dtypes, tokenizer"},
    {"generate", cmd_generate, "continue a prompt with a model (and a LoRA adapter), streaming"},
    {"tokenize", cmd_tokenize, "print the token ids of standard input"},
    {"pretrain", cmd_pretrain, "train a Llama model from scratch on a text corpus"},
    {"train-tokenizer", cmd_train_tokenizer, "learn a BPE tokenizer.json from text files"},
};
static const int n_commands = sizeof(commands) / sizeof(commands[0]);

static void print_usage(FILE *f) {
    fprintf(f, "usage: are <command> [options]      (are <command> --help for its options)\n"
               "       mpirun -np N are <command> ...\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes: 0 done, 1 the work failed (message on stderr), 2 bad command line\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("are %s\n", ARE_VERSION);
        return EXIT_OK;
    }
    for (int i = 0; i < n_commands; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        MPI_Init(&argc, &argv);
        int rc = commands[i].run(argc - 1, argv + 1);
        MPI_Finalize();
        return rc;
    }
    fprintf(stderr, "are: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return EXIT_USAGE;
}
