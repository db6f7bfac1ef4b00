// The `are` subcommands. Each takes its own argv (argv[0] = the subcommand name), prints its
// own --help, and returns one of the exit codes of exit_codes.h.
#ifndef ARE_COMMANDS_H
#define ARE_COMMANDS_H

#include "exit_codes.h"

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
