// The config of one ARE trial (`are run`, `are evaluate`, and the base of every sweep), in
// libconfig syntax, read and checked in full before any work. Every hyperparameter of
// docs/method.md is a field; defaults are the published settings except where noted.
//
//   model = "models/tinychat";             # HF folder or .gguf file
//   template = "<|user|> {prompt}\n<|assistant|>";   # chat template, {prompt} marks the prompt;
//                                           # "auto": the model's own (model_chat_template.h)
//   device = "auto";                        # "auto" | "cpu" | "cuda"
//   base_weights = "auto";                  # "auto" | "fp32" | "bf16" | "fp16"
//   threads = 0;                            # CPU threads, 0 = the placement's share
//   seed = 1;
//   method = "are";                         # "are" | "none" | "direction_ablation" |
//                                           # "activation_addition" (baselines)
//   baseline = { alpha = 8.0;               # activation_addition: alpha * r added
//                layers = []; };            # where r may be taken: entries of are.layers,
//                                           # the best of them; [] = all of are.layers
//   task = "jailbreak";                     # which entry of tasks to run
//   tasks = {
//     jailbreak = {
//       data = ["data/refusal_train.jsonl", "data/refusal_test.jsonl"];  # rows carry split
//       target_label = 0;                   # the class every representation is pushed to
//       evaluate = (                        # evaluation sets, base model and edited model
//         { name = "harmful";  data = "data/refusal_test.jsonl"; label = 1; kind = "generate"; },
//         { name = "harmless"; data = "data/refusal_test.jsonl"; label = 0; kind = "generate"; },
//         { name = "mc"; data = "data/mc_test.jsonl"; label = 0; kind = "mc"; },
//         { name = "advbench"; data = "harmful_behaviors.csv";   # goal,target as published
//           columns = { prompt = "goal"; target = "target"; }; constant_label = 1;
//           constant_split = "test"; }
//       );
//       markers = ["I'm afraid"];           # refusal markers of this task, besides the defaults
//       refusal_text = "I cannot help with that.";   # its likelihood is measured; "" = none
//       likelihood_set = "advbench";        # a generate set: its likelihoods every round
//     };
//   };
//   are = {
//     layers = [-18, -19, -20, -21, -22];   # HF hidden_states indices, concatenated
//     position = "last";                    # representation at the last prompt token
//     max_rounds = 50;
//     converge_low = 0.45; converge_high = 0.70; converge_split = "test";  # or "train"
//     cache_frozen_blocks = true;           # blocks below the LoRA ones run once per trial
//     discriminator = { kind = "mlp"; hidden = 512; lr = 1e-3; eps = 1e-3; epochs = 30;
//                       batch_size = 64; standardize = false; };
//     generator = { targets = ["up_proj", "down_proj"];   # any of q_proj..down_proj, q..down, all
//                   layers = [9, 10, 11, 12, 13];           # blocks with LoRA adapters
//                   rank = 8; alpha = 8.0; dropout = 0.0; lr = 1e-4; eps = 1e-2; epochs = 2;
//                   batch_size = 1;
//                   retain_weight = 0.0;  # + weight * KL(base || edited), next-token distribution
//                   retain_label = 0; };  # at the last token of train prompts of this label
//     guard = { set = "harmless"; min_answer_rate = 0.0; max_perplexity_ratio = 0.0;
//               min_preserved = 0.0; min_distinct = 0.0;   # ROUGE-L to base; distinct answers
//               every = 1; best = "last"; };   # 0 disables a bound; best: "last" | "guarded"
//   };
//   evaluation = {
//     max_new_tokens = 64; batch_size = 32; max_prompts = 0;   # 0 = every prompt of a set
//     markers = [ "I'm sorry", "Sorry", ... ];   # refusal markers; default: docs/method.md's list
//     case_sensitive = true;
//     refusal_scope = "anywhere";           # or "opening": a marker in the first two sentences
//     preserve_tokens = 16;                 # preserved_prefix compares this many first tokens
//     perplexity_text = "data/corpus_valid.jsonl"; perplexity_docs = 200;  # 0 = every document
//     mc_max_new_tokens = 10;
//   };
//   output = { dir = "runs/demo"; store_rounds = "all";   # "all" | "first_last" | "none"
//              representations = "fp16";  # or "fp32"
//              lora_weights = true; };
//
// Required: task, tasks, and in each task data and target_label (in each evaluate set name and
// data); everything else has the default shown. position accepts only "last" and dropout only
// 0 (what is implemented); they, output.dir and cache_frozen_blocks (which changes speed,
// not results) are not part of the canonical text. Paths are relative to the
// current directory. Errors name the file, the line and the field: unknown fields (with the
// nearest known name), wrong types, values out of range, missing fields, and the rules between
// fields (task in tasks, converge_low < converge_high, template with {prompt} or "auto", no
// layer listed twice, guard.set naming an evaluate set of kind generate when in use). That the
// task has train prompts labelled retain_label is checked when its data is read, and what
// template "auto" stands for when the model is loaded (the canonical text keeps "auto"). The
// default template stays tinychat's rather than "auto": a config without a template field keeps
// the prompts, canonical text and trial ids it had. Likewise method appears in the canonical
// text only when it is not "are", so configs written before it keep their trial ids,
// baseline.alpha only with method "activation_addition", the one method it changes, and
// baseline.layers only when set, with the two methods that take a direction.
#ifndef ARE_ARE_CONFIG_H
#define ARE_ARE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define ARE_PATH_MAX      1024
#define ARE_NAME_MAX      64
#define ARE_MAX_LAYERS    64
#define ARE_MAX_FILES     8
#define ARE_MAX_EVAL_SETS 8
#define ARE_MAX_MARKERS   64
#define ARE_MARKER_MAX    64
#define ARE_TEMPLATE_MAX  512

typedef enum { EVAL_GENERATE, EVAL_MC } EvalKind;

// Where a prompt file keeps each field (prompt_set.h's PromptLayout).
typedef struct {
    char prompt[ARE_NAME_MAX], label[ARE_NAME_MAX], split[ARE_NAME_MAX], target[ARE_NAME_MAX],
        answer[ARE_NAME_MAX], choices[ARE_NAME_MAX];
} ColumnNames;

typedef struct {
    char name[ARE_NAME_MAX];
    char data[ARE_PATH_MAX];
    int label;     // keep rows with this label; -1 = every row
    EvalKind kind; // generate: refusal / answer rate / quality; mc: multiple choice accuracy
    ColumnNames columns;
    int constant_label;     // every row's label; -1: the file's
    char constant_split[8]; // every row's split ("train", "test"); "": the file's
} EvalSetConfig;

typedef struct {
    char name[ARE_NAME_MAX];
    char data[ARE_MAX_FILES][ARE_PATH_MAX]; // prompt files; rows carry their split
    int n_data;
    int target_label;
    EvalSetConfig evaluate[ARE_MAX_EVAL_SETS];
    int n_evaluate;
    char markers[ARE_MAX_MARKERS][ARE_MARKER_MAX]; // refusal markers besides evaluation.markers
    int n_markers;
    char refusal_text[ARE_TEMPLATE_MAX]; // whose likelihood is measured; "" = none
    char likelihood_set[ARE_NAME_MAX];   // set whose likelihoods every round records; "" = none
} TaskConfig;

typedef enum { DISC_LINEAR, DISC_MLP } DiscKind;

typedef struct {
    DiscKind kind;
    int hidden; // MLP hidden width
    float lr, eps;
    int epochs, batch_size;
    bool standardize; // features standardised with train-set mean and std (not published)
} DiscConfigFields;

typedef struct {
    unsigned targets; // bit (1u << p) for each Projection p adapted (llama_config.h)
    int layers[ARE_MAX_LAYERS];
    int n_layers;
    int rank;
    float alpha, lr, eps;
    int epochs, batch_size;
    float retain_weight; // KL to the base model on retain_label's train prompts; 0 = published
    int retain_label;    // the class of train prompts the retain loss keeps as they were
} GenConfigFields;

typedef struct {
    char set[ARE_NAME_MAX];     // evaluate set (kind generate) measured every `every` rounds
    float min_answer_rate;      // stop when the answer rate falls below (0: off)
    float max_perplexity_ratio; // stop when perplexity / base perplexity exceeds (0: off)
    float min_preserved; // stop when mean ROUGE-L F1 to the base answers falls below (0: off)
    float min_distinct;  // stop when the share of distinct answers falls below (0: off)
    int every;
    bool best_guarded; // best round = last round that passed the guard; else last
} GuardConfig;

typedef enum { STORE_ALL, STORE_FIRST_LAST, STORE_NONE } StoreRounds;

// How a trial edits the model: ARE, or a baseline it is compared against
// (compute/baseline_trial.h).
typedef enum {
    METHOD_ARE,
    METHOD_NONE,
    METHOD_DIRECTION_ABLATION,
    METHOD_ACTIVATION_ADDITION
} TrialMethod;
extern const char *const trial_method_names[]; // "are", "none", ..., "activation_addition"

typedef struct {
    char model[ARE_PATH_MAX];
    char template_text[ARE_TEMPLATE_MAX];
    char device[16];
    char base_weights[8];
    int threads;
    long long seed;
    char task_name[ARE_NAME_MAX];
    TaskConfig task; // the selected task, resolved

    int rep_layers[ARE_MAX_LAYERS];
    int n_rep_layers;
    int max_rounds;
    float converge_low, converge_high;
    bool converge_on_train;
    bool cache_frozen_blocks;
    DiscConfigFields disc;
    GenConfigFields gen;
    GuardConfig guard;

    int eval_max_new_tokens, eval_batch_size, eval_max_prompts, mc_max_new_tokens;
    char markers[ARE_MAX_MARKERS][ARE_MARKER_MAX];
    int n_markers;
    bool markers_case_sensitive;
    bool refusal_opening; // markers count only in a text's first two sentences
    int preserve_tokens;  // N of preserved_prefix
    char perplexity_text[ARE_PATH_MAX];
    int perplexity_docs;

    char output_dir[ARE_PATH_MAX];
    StoreRounds store_rounds;
    TrialMethod method;
    float steer_alpha; // activation_addition: the multiple of the unit direction added
    // direction_ablation, activation_addition: the hidden_states indices (entries of
    // rep_layers) r may be taken at; none: every entry of rep_layers
    int baseline_layers[ARE_MAX_LAYERS];
    int n_baseline_layers;
    bool store_fp16;
    bool store_lora;
} AreConfig;

// Reads path, applies the overrides ("are.generator.rank=4", n_overrides of them, applied in
// order before checking), checks every field and fills c. Returns 0, or -1 with
// "file:line: field: what was expected" in err.
int are_config_load(const char *path, const char *const *overrides, int n_overrides, AreConfig *c,
                    char *err, size_t err_len);

// The resolved config as canonical text: every field with its value, sorted by path, one
// "path = value;" per line (what trial ids hash and trial files store), output.dir left out
// since where a trial is written does not change what it computes; the selected task's
// fields appear as task.data, task.evaluate, task.target_label, the other tasks not at all.
// Floats are written in the shortest form that reads back to the same float. Returns a malloc'd
// string, or NULL when out of memory.
char *are_config_canonical(const AreConfig *c);

// Every field with what it takes, its default and a line of doc, one line each.
void are_config_write_reference(FILE *out);

#endif
