// The `are` subcommands. Each takes its own argv (argv[0] = the subcommand name), prints its
// own --help, and returns one of the exit codes below.
#ifndef ARE_COMMANDS_H
#define ARE_COMMANDS_H

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1, // the work could not be done (bad input file, numeric failure, ...)
    EXIT_USAGE = 2,  // the command line itself is wrong
    // 3: the GPU failed inside an op; compute/cuda exits with it (CUDA_CHECK), so it is not
    // returned by a command.
};

int cmd_info(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_train_tokenizer(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_truncate(int argc, char **argv);

#endif
