// libFuzzer harness for prompt datasets: any bytes, read as JSONL and then as CSV into the same
// set, must load or be refused with a message that leaves the set as it was, and every row
// loaded must hold what prompt_set.h promises.
#include "prompt_set.h"
#include "unicode.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// A broken invariant is a finding: crash so that libFuzzer keeps the input.
static void require(bool ok) {
    if (!ok) abort();
}

static void require_text(const char *s) {
    size_t n = strlen(s);
    require(n > 0);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)utf8_decode(s + i, n - i, &cp);
        require(cp != UNICODE_INVALID);
    }
}

static void require_rows(const PromptSet *set, int first, int n_lines) {
    for (int i = first; i < set->n; i++) {
        const PromptRow *row = &set->rows[i];
        require_text(row->prompt);
        if (row->answer) require_text(row->answer);
        require(row->n_choices == 0 ||
                (row->n_choices >= 2 && row->n_choices <= PROMPT_SET_MAX_CHOICES));
        for (int k = 0; k < row->n_choices; k++) require_text(row->choices[k]);
        require(row->label == 0 || row->label == 1);
        require(row->split == PROMPT_TRAIN || row->split == PROMPT_TEST);
        require(row->line >= 1 && row->line <= n_lines);
        require(i == first || row->line > set->rows[i - 1].line);
    }
    int by_class = 0;
    for (int label = 0; label < 2; label++)
        for (int split = PROMPT_TRAIN; split <= PROMPT_TEST; split++)
            by_class += prompt_set_select(set, label, split, NULL);
    require(by_class == set->n && prompt_set_select(set, PROMPT_ANY, PROMPT_ANY, NULL) == set->n);
}

static void load(PromptSet *set, const uint8_t *data, size_t size, PromptFormat format,
                 int n_lines) {
    int n_before = set->n;
    char err[512] = "";
    if (prompt_set_load_memory(set, "fuzz", (const char *)data, size, format, NULL, err,
                               sizeof err)) {
        require(err[0] != '\0' && set->n == n_before);
        return;
    }
    require(set->n > n_before);
    require_rows(set, n_before, n_lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int n_lines = 1;
    for (size_t i = 0; i < size; i++) n_lines += data[i] == '\n';
    PromptSet set = {0};
    load(&set, data, size, PROMPT_JSONL, n_lines);
    load(&set, data, size, PROMPT_CSV, n_lines);
    char err[512];
    prompt_set_check_task(&set, "fuzz", err, sizeof err);
    prompt_set_free(&set);
    return 0;
}
