// The tables and plots of the representation analysis (round_analysis.h): what `are analyze`
// writes as CSV and SVG files and puts in the report's section of each task.
#ifndef ARE_ROUND_REPORT_H
#define ARE_ROUND_REPORT_H

#include "round_analysis.h"
#include "table.h"
#include "text_buffer.h"

// Pooled over a task's trials, one row per round and layer: trials, linear-probe test accuracy,
// separability ratio and ARE's discriminator test accuracy, each "mean ± std". NULL when out of
// memory.
Table *round_table(const char *task, const TaskRoundStats *t);

// The same rows as plain numbers for CSV: round, layer, then <stat>_mean, <stat>_std, <stat>_n.
Table *round_numbers(const char *task, const TaskRoundStats *t);

// Every trial's statistics, one row per trial, stored round and layer, plain numbers for CSV:
// trial, task, round, layer, probe accuracies, class-mean distance, spread, ratio.
Table *trial_round_numbers(TrialReader *const *readers, const TrialRoundStats *stats, int n);

// Lines with mean ± std bands over rounds: ARE's discriminator accuracy (train and test), the
// linear-probe accuracy per layer, the separability ratio per layer.
void plot_discriminator_rounds(TextBuffer *b, const char *task, const TaskRoundStats *t);
void plot_probe_rounds(TextBuffer *b, const char *task, const TaskRoundStats *t);
void plot_separation_rounds(TextBuffer *b, const char *task, const TaskRoundStats *t);

// The scatter of round index i of p, one series per class, on the limits shared by all of p's
// rounds.
void plot_pca_round(TextBuffer *b, const char *trial_id, const TrialPca *p, int i,
                    const int *labels);

#endif
