// The analysis of a sweep's run folder, everything `are analyze` does but reading its command
// line: sweep.h5 (or, without one, the finished trial files and their summaries), the ablation
// tables (ablation.h) with every metric into files and the headline ones for people, the
// representation analysis of every done or running trial's stored rounds (round_analysis.h),
// the plots and the HTML report. It writes into out_dir:
//
//   ablation.md, ablation-<table>.csv, ablation-<table>.tex, trials.md, trials.csv
//   representations.csv, rounds-<task>.csv, plots/*.svg, report.html
//
// A running trial is read from its trials/<id>.h5.tmp as an HDF5 SWMR reader: the rounds it
// has flushed so far. The same files give the same bytes.
//
// A done trial whose file fails trial_file_check (missing, truncated, not HDF5, ...) is left out
// of the tables, and a trial file that cannot be analysed out of the representation analysis,
// each with a warning naming the file and what is wrong, and a line in the report; the rest is
// written. The files are written into a fresh sibling folder, out_dir.tmp-XXXXXX, which replaces
// out_dir only when complete: a failure leaves out_dir as it was. An existing out_dir must hold
// only what an analysis writes (it is replaced whole).
#ifndef ARE_SWEEP_ANALYSIS_H
#define ARE_SWEEP_ANALYSIS_H

#include "text_buffer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *run_dir;      // a sweep's output.dir (holding sweep.h5 and trials/)
    const char *out_dir;      // created when missing
    const char *const *where; // ablation.h's filters, "axis=value"
    int n_where;
    const char *const *by; // ablation.h's grouping axes
    int n_by;
    const char *const *metrics; // the people's tables' columns; 0: ablation_headline_metrics
    int n_metrics;
    const char *pca_trial; // the trial whose rounds the PCA plots show; NULL: each task's first
    const int *pca_layer;  // the hidden state they show (HF index as stored); NULL: its first
    bool representations;  // false: the tables only
    FILE *progress;        // a line per trial analysed ("[3/16] trial ... ETA"); NULL: quiet
    FILE *warnings;        // a line per trial file left out ("warning: ..."); NULL: quiet
} SweepAnalysisOptions;

// Runs the analysis and appends the headline tables as Markdown to markdown. Returns 0, or -1
// with one line in err; *bad_options then says whether a filter, grouping, metric or PCA layer
// named something the sweep does not have (the caller's mistake rather than the files').
int sweep_analysis_run(const SweepAnalysisOptions *o, TextBuffer *markdown, bool *bad_options,
                       char *err, size_t err_len);

#endif
