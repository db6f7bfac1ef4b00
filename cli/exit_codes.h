// The exit codes of `are` and its subcommands (main.c prints them under --help).
#ifndef ARE_EXIT_CODES_H
#define ARE_EXIT_CODES_H

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1, // the work could not be done (bad input file, numeric failure, ...)
    EXIT_USAGE = 2,  // the command line itself is wrong
    // 3: the GPU failed inside an op; compute/cuda exits with it (CUDA_CHECK), so it is not
    // returned by a command.
};

#endif
