// The names of a trial's summary figures (trial_summary.h), defined once for the code that
// writes them (session/model_eval.c) and the code that picks them out (rank 0's progress lines
// in sweeps/sweep_progress.c, `are analyze`'s tables in analysis/ablation.c and
// analysis/sweep_analysis.c). A summary name is either a numeric attribute of the trial file's
// /result under its own name (TRIAL_RESULT_ROUNDS, TRIAL_RESULT_CONVERGED, ...:
// trial_file_names.h) or an evaluation set's metric as "<model>.<set>.<metric>"
// (SUMMARY_EDITED "harmful." METRIC_REFUSAL_RATE); `are analyze` derives two more kinds.
// Macros, so that they join other literals into names and fnmatch(3) patterns
// (SUMMARY_EDITED "*." METRIC_REFUSAL_RATE).
#ifndef ARE_TRIAL_SUMMARY_NAMES_H
#define ARE_TRIAL_SUMMARY_NAMES_H

#include "trial_file_names.h"

// "<model>." before an evaluation set's "<set>.<metric>".
#define SUMMARY_BASE   TRIAL_MODEL_BASE "."
#define SUMMARY_EDITED TRIAL_MODEL_EDITED "."

// Derived by `are analyze`: "change.X" = edited.X - base.X, and the trial's wall time from
// sweep.h5 (TRIAL_RESULT_SECONDS being the ARE loop's alone).
#define SUMMARY_CHANGE       "change."
#define SUMMARY_WALL_SECONDS "wall_seconds"

// A generate set's metrics (attributes of evaluation/<model>/<set>), in the order written.
#define METRIC_REFUSAL_RATE   "refusal_rate"
#define METRIC_ANSWER_RATE    "answer_rate"
#define METRIC_REPETITION_4   "repetition_4"
#define METRIC_REPETITION_SEN "repetition_sen"
#define METRIC_SELF_BLEU      "self_bleu"
#define METRIC_DISTINCT       "distinct"
#define METRIC_DISTINCT_2     "distinct_2"
// ... when the set has targets or refusals: mean negative log-likelihoods (also per prompt).
#define METRIC_TARGET_NLL  "target_nll"
#define METRIC_REFUSAL_NLL "refusal_nll"
// ... of an edited model: what it kept of the base model's answers (also per prompt).
#define METRIC_PRESERVED_PREFIX  "preserved_prefix"
#define METRIC_PRESERVED_ROUGE_L "preserved_rouge_l"

// A multiple-choice set's metrics.
#define METRIC_ACCURACY_GENERATE "accuracy_generate"
#define METRIC_ACCURACY_LOGLIK   "accuracy_loglik"

#endif
