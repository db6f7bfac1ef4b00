// Prompt datasets for ARE: prompts with a binary concept label, each in the train or the test
// split, optionally with a reference answer and multiple-choice options. The file's extension
// picks the format:
//
// .jsonl  one JSON object per line (blank lines are skipped):
//           {"prompt": "How do I pick a lock?", "label": 1, "split": "train"}
//           {"prompt": "Which class is the camel?", "label": 0, "split": "test", "answer": "A",
//            "choices": ["mammal", "reptile", "fish", "insect"]}
//         prompt: a non-empty string; label: the integer 0 or 1; split: "train" or "test";
//         answer (optional): a non-empty string; choices (optional): an array of 2 to 8
//         non-empty strings. null counts as absent for the optional fields; other fields
//         (kind, form, template, ...) are ignored.
// .csv    RFC 4180: a header row naming the columns, then one record per row; fields are
//         separated by commas; a field holding a comma, a double quote or a line break is
//         enclosed in double quotes, with each quote inside doubled; lines end in LF or CRLF;
//         blank lines are skipped. Columns prompt, label and split are required, answer and
//         choices optional, in any order; other columns are ignored. label is the text 0 or 1;
//         an empty answer or choices cell means absent; choices holds the options separated by
//         " | " (space, bar, space), so an option cannot itself contain " | ":
//           prompt,label,split,answer,choices
//           "Which class is the camel?",0,test,A,mammal | reptile | fish | insect
//
// Both formats may also carry a `target` (optional, non-empty text): the start of the answer an
// attack wants (AdvBench's "Sure, here is ..."), scored by its likelihood, never generated.
//
// Files in the field's own shapes load as they are with a PromptLayout: other column (CSV) or
// member (JSONL) names for each field, and a label and a split for every row of a file that has
// none. AdvBench's harmful_behaviors.csv (goal,target) is {.prompt = "goal", .label_all = 1,
// .split_all = PROMPT_TEST}; a HarmBench-style behaviours CSV (Behavior,FunctionalCategory,...)
// is {.prompt = "Behavior", ...}. A fixed label or split wins over a column of that name.
//
// Text must be valid UTF-8 without NUL bytes (the tokenizers need it); a leading UTF-8 byte
// order mark is skipped. A row's line is the physical line it starts on. Errors say
// "path:line: field: what was expected, got what was there", e.g.
//   data/x.csv:12: label: expected 0 or 1, got "2"
#ifndef ARE_PROMPT_SET_H
#define ARE_PROMPT_SET_H

#include <stddef.h>

#define PROMPT_SET_MAX_CHOICES 8

typedef enum { PROMPT_TRAIN, PROMPT_TEST } PromptSplit;
typedef enum { PROMPT_JSONL, PROMPT_CSV } PromptFormat;

// A prompt_set_select filter value that takes every label, or every split.
#define PROMPT_ANY (-1)

typedef struct {
    const char *prompt;                          // the user text, without any chat template
    const char *target;                          // NULL when absent
    const char *answer;                          // NULL when absent
    const char *choices[PROMPT_SET_MAX_CHOICES]; // [n_choices]
    int n_choices;                               // 0 when absent, else 2..PROMPT_SET_MAX_CHOICES
    int label;                                   // 0 or 1
    PromptSplit split;
    const char *file; // the path (or name) the row was loaded from
    int line;         // 1-based
} PromptRow;

// Where a file keeps each field. A NULL or "" name means the default one (prompt, label, split,
// target, answer, choices); label_all and split_all are PROMPT_ANY to read the label and the
// split from the file, else every row's value (0 or 1; PROMPT_TRAIN or PROMPT_TEST).
typedef struct {
    const char *prompt, *label, *split, *target, *answer, *choices;
    int label_all, split_all;
} PromptLayout;

// Rows of one or more files. Start from a zeroed PromptSet; free with prompt_set_free.
typedef struct {
    PromptRow *rows; // [n] in the order loaded
    int n, capacity;
    char **texts; // [n_texts] one allocation per loaded file: its name and its rows' strings
    int n_texts;
} PromptSet;

// Appends the rows of the .jsonl or .csv file at path, read under layout (NULL: the default
// names, label and split from the file), so that several files make one set. Returns 0, or -1
// with "path:line: field: ..." in err (the field as the file names it) and set as it was before
// the call.
int prompt_set_load(PromptSet *set, const char *path, const PromptLayout *layout, char *err,
                    size_t err_len);

// The same from len bytes in memory (not NUL-terminated), named name in messages and rows.
int prompt_set_load_memory(PromptSet *set, const char *name, const char *bytes, size_t len,
                           PromptFormat format, const PromptLayout *layout, char *err,
                           size_t err_len);

void prompt_set_free(PromptSet *set);

// Indices of the rows with the given label and split (either may be PROMPT_ANY), in row order,
// written to indices (room for set->n; NULL to only count). Returns how many there are.
int prompt_set_select(const PromptSet *set, int label, int split, int *indices);

// Checks that the set can drive an ARE trial: both splits present and each holding both labels
// (the discriminator learns and is tested on two classes). Returns 0, or -1 with a message
// starting with what (e.g. "task jailbreak") naming the split, the missing label and the counts.
int prompt_set_check_task(const PromptSet *set, const char *what, char *err, size_t err_len);

#endif
