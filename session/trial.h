// One trial on a loaded model: what `are run` does, and what a sweep worker does for each
// trial it is handed (the model stays loaded; the LoRA is made fresh per trial).
#ifndef ARE_TRIAL_H
#define ARE_TRIAL_H

#include "are_config.h"
#include "are_trial.h"
#include "model_session.h"
#include "trial_id.h"
#include "trial_summary.h"

#include <stddef.h>
#include <stdio.h>

typedef struct {
    char id[TRIAL_ID_LEN + 1];
    char trial_file[ARE_PATH_MAX + 64];
    char adapter_dir[ARE_PATH_MAX + 64]; // "" when the method edits no weights
    AreResult result;
    TrialSummary summary;   // read back from the finished trial file (trial_summary.h)
    char summary_line[512]; // one line for people
} TrialOutcome;

// Runs the trial c describes, named id (trial_id.h; `are run` hashes c itself, a sweep takes
// the plan's), on the session's model, which must have no LoRA attached; writes the trial file
// and the adapter under c->output_dir. With a log, a line per round and progress go there and
// the base-vs-edited table to stdout; NULL runs quietly (sweep workers). Returns 0, or -1 with
// the reason in err.
int trial_run(ModelSession *ms, const AreConfig *c, const char *id, FILE *log, TrialOutcome *out,
              char *err, size_t err_len);

#endif
