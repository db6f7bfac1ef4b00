// The summary numbers of a finished trial, read back from its trial file: every numeric
// attribute of /result ("rounds", "converged", "best_round", ...) under its own name, and of
// each /evaluation/<model>/<set> group as "<model>.<set>.<metric>" (for example
// "edited.harmful.refusal_rate"). A sweep's table keeps exactly these per trial, whether the
// worker that ran the trial reports them or a resumed sweep finds the finished file.
#ifndef ARE_TRIAL_SUMMARY_H
#define ARE_TRIAL_SUMMARY_H

#include <stddef.h>

#define TRIAL_SUMMARY_MAX      192
#define TRIAL_SUMMARY_NAME_MAX 128

typedef struct {
    int n;
    char names[TRIAL_SUMMARY_MAX][TRIAL_SUMMARY_NAME_MAX];
    double values[TRIAL_SUMMARY_MAX];
} TrialSummary;

// Reads the summary of the finished trial file at path, in a fixed order (the result first,
// then evaluations by model and set in name order). Returns 0, or -1 with the reason in err.
int trial_summary_read(const char *path, TrialSummary *s, char *err, size_t err_len);

#endif
