// `are`: Adversarial Representation Engineering on Llama-family models, and sweeps of it
// across an MPI job. Dispatches to one subcommand. Only the commands that talk across ranks
// initialise MPI: the single-process ones must not depend on Open MPI starting its singleton
// daemon, which can fail on a loaded machine.
#include "commands.h"
#include "placement.h"

#include <mpi.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    MPI_NEVER,       // single-process commands
    MPI_ALWAYS,      // commands about the ranks themselves
    MPI_IF_LAUNCHED, // commands that share work across ranks under mpirun, or run alone
} MpiUse;

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    MpiUse mpi;
} Command;

static const Command commands[] = {
    {"info", cmd_info, "build, backends and where each MPI rank runs (threads, GPU)", MPI_ALWAYS},
    {"inspect", cmd_inspect, "describe a model: dimensions, parameters, dtypes, tokenizer",
     MPI_NEVER},
    {"generate", cmd_generate, "continue a prompt with a model (and a LoRA adapter), streaming",
     MPI_NEVER},
    {"tokenize", cmd_tokenize, "print the token ids of standard input", MPI_NEVER},
    {"pretrain", cmd_pretrain, "train a Llama model from scratch on a text corpus", MPI_NEVER},
    {"train-tokenizer", cmd_train_tokenizer, "learn a BPE tokenizer.json from text files",
     MPI_NEVER},
    {"evaluate", cmd_evaluate, "measure a model's behaviour on a config's evaluation sets",
     MPI_NEVER},
    {"run", cmd_run, "run one ARE trial: edit a concept, evaluate, write the trial file",
     MPI_NEVER},
    {"sweep", cmd_sweep, "run a sweep of ARE trials, across MPI ranks under mpirun",
     MPI_IF_LAUNCHED},
    {"analyze", cmd_analyze, "ablation tables, representation analysis, plots and a report",
     MPI_NEVER},
    {"truncate", cmd_truncate, "write a GGUF model cut to its first layers (for quick checks)",
     MPI_NEVER},
};
static const int n_commands = sizeof(commands) / sizeof(commands[0]);

static void print_usage(FILE *f) {
    fprintf(f, "usage: are <command> [options]      (are <command> --help for its options)\n"
               "       mpirun -np N are <command> ...\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes: 0 done, 1 the work failed (message on stderr), 2 bad command line,\n"
               "3 the GPU failed inside an operation (CUDA or cuBLAS error, printed)\n");
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
        if (commands[i].mpi == MPI_NEVER ||
            (commands[i].mpi == MPI_IF_LAUNCHED && !placement_launched_by_mpirun()))
            return commands[i].run(argc - 1, argv + 1);
        MPI_Init(&argc, &argv);
        int rc = commands[i].run(argc - 1, argv + 1);
        MPI_Finalize();
        return rc;
    }
    fprintf(stderr, "are: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return EXIT_USAGE;
}
