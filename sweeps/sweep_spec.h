// A sweep's trials: the base trial config (io/are_config.h) and a `sweep` block in the same file,
// expanded into the list of trials, each the base config plus a few "path=value" overrides and
// a repeat index. The same file always gives the same trials in the same order, with the same
// ids and seeds.
//
//   sweep = {
//     method = "grid";     # "grid" (default) | "random" | "list"
//     seed = 7;            # sweep seed (default 1): random draws and every trial's seed
//     repeats = 2;         # runs of each combination (default 1), repeat index 0..repeats-1
//     samples = 20;        # random only (required there): combinations to draw
//     axes = (             # grid and random
//       { path = "task"; values = ["jailbreak", "defense"]; },
//       { path = "are.generator.rank"; values = [4, 8]; },
//       # zipped: the paths move together, one tuple ( ... ) of values per step
//       { paths = ["are.layers", "are.generator.layers"];
//         values = ( ([2], [0, 1]), ([3], [0, 1, 2]) ); },
//       # random only: a distribution instead of values
//       { path = "are.generator.lr"; distribution = "log_uniform"; low = 1e-4; high = 1e-3; }
//     );
//     trials = ( ["task=jailbreak", "are.generator.rank=4"], ["task=defense"], [] );  # list
//     exclude = ( ["task=defense", "are.generator.rank=4"] );
//     set = ["are.max_rounds=4", "output.dir=\"runs/demo\""];  # every trial, like --set
//   };
//
// values: an array [ ... ] when every value is a scalar of one type, otherwise a list ( ... )
// (libconfig arrays hold scalars of one type only): (1, 2.5), ([2], [2, 3]), ("a", 4).
// Grid: the cartesian product of the axes, the first axis slowest; a zipped axis is one axis.
// Random: `samples` distinct combinations; each axis is drawn on its own from the sweep seed,
// the sample number and the axis number (a counter-based stream, so no draw depends on another):
// uniform (low, high), log_uniform (0 < low, high), int (integers low..high inclusive), or choice
// (one of values; an axis with values and no distribution is a choice). Drawn floats are
// rounded to floats, which is what a config holds. A draw that is excluded or repeats an
// earlier combination is skipped and drawing goes on.
// List: each entry of trials is one combination, written as overrides (as --set takes them);
// [] is the base config itself.
// Exclude: a combination is dropped when it already has every value of one entry (compared on
// the resolved config, so "are.generator.lr=0.00010" excludes a value written 1e-4); each path
// of an entry must be swept. Repeats are innermost: trial i is repeat i % repeats.
//
// Every combination is resolved with are_config_load (the file, then the extra overrides, then
// the combination's); a failure is reported at the line of the value, axis or entry that set
// the field. Two combinations that resolve to the same config (same trial id) are an error.
#ifndef ARE_SWEEP_SPEC_H
#define ARE_SWEEP_SPEC_H

#include "trial_id.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SWEEP_MAX_AXES    32
#define SWEEP_MAX_ZIP     8 // paths of one zipped axis
#define SWEEP_MAX_COLUMNS (SWEEP_MAX_AXES * SWEEP_MAX_ZIP)
#define SWEEP_MAX_TRIALS  100000

typedef enum { SWEEP_GRID, SWEEP_RANDOM, SWEEP_LIST } SweepMethod;

typedef struct {
    int index;       // position in the expansion order: trials[index]
    int combination; // trials of one combination differ only in repeat
    int repeat;      // 0..repeats-1
    int n_overrides;
    char **overrides;    // "path=value", applied after the file's settings and the extra overrides
    const char **values; // [n_columns] each column's value text (into overrides); NULL where a
                         // list trial leaves the column to the base config
    char id[TRIAL_ID_LEN + 1]; // trial_id(are_config_canonical(resolved config), repeat)
    uint64_t seed;             // trial_seed(sweep seed, id)
    double cost; // expected run time, arbitrary units: max_rounds * (3 * generator epochs + 1) *
                 // bytes of the task's data files (a forward and backward pass per generator
                 // epoch and a representation pass per round over every prompt; the base model's
                 // passes dominate, so LoRA rank and layers are left out)
} SweepTrial;

typedef struct {
    SweepMethod method;
    uint64_t seed;
    int repeats;
    int n_combinations;
    int n_columns;
    char **columns; // swept paths: axis order, a zipped axis's paths in order; list: as they
                    // first appear in trials
    SweepTrial *trials;
    int n;
    int *order;        // [n] trial indices, largest cost first, ties by index: the queue order
    char *config_text; // the file's text as read (an @include'd file is not in it)
    // The sweep's set = ["path=value", ...]: settings of every trial (applied before the command
    // line's --set, which wins, and the trial's own overrides), e.g. output.dir for an included
    // base config.
    char **settings;
    int n_settings;
} SweepPlan;

// Reads the sweep in config_path, expands it and resolves every combination with the extra
// overrides (the command line's --set; one that sets a swept path is refused). Returns 0, or -1
// with "file:line: what is wrong" in err, and p holding nothing.
int sweep_plan_load(SweepPlan *p, const char *config_path, const char *const *extra_overrides,
                    int n_extra, char *err, size_t err_len);
void sweep_plan_free(SweepPlan *p);

// The --dry-run table: a summary line, then one row per trial in index order: index, id,
// repeat, seed and each column's value ("-": the base config's).
void sweep_plan_print(FILE *f, const SweepPlan *p);

#endif
