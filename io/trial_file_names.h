// The names inside a trial file (its layout: trial_store.h), defined once for its writers
// (io/trial_store.c, session/trial.c) and its readers (io/trial_summary.c, trial_steering.c,
// trial_file_check.c, sweep_store.c's rescue of finished trials, analysis/trial_reader.c).
// Macros, so that they join other literals ("/" TRIAL_EVALUATION).
#ifndef ARE_TRIAL_FILE_NAMES_H
#define ARE_TRIAL_FILE_NAMES_H

#define TRIAL_FORMAT_VERSION 1 // the value of the format_version attribute

// Attributes of the root group.
#define TRIAL_ATTR_FORMAT_VERSION "format_version"
#define TRIAL_ATTR_CONFIG         "config"
#define TRIAL_ATTR_TRIAL_ID       "trial_id"
#define TRIAL_ATTR_SEED           "seed"
#define TRIAL_ATTR_HOST           "host"
#define TRIAL_ATTR_RANK           "rank"
#define TRIAL_ATTR_DEVICE         "device"
#define TRIAL_ATTR_VERSION        "version"
#define TRIAL_ATTR_START_TIME     "start_time"
#define TRIAL_ATTR_END_TIME       "end_time"
#define TRIAL_ATTR_STATUS         "status"
#define TRIAL_STATUS_RUNNING      "running" // status until the trial finishes

// Per round: metrics/<AreRoundMetrics field> beside metrics/round, the representations of the
// stored rounds and the round each was taken after, the LoRA weights and their rounds.
#define TRIAL_METRICS         "metrics"
#define TRIAL_METRICS_ROUND   "round"
#define TRIAL_REPRESENTATIONS "representations"
#define TRIAL_STORED_ROUNDS   "stored_rounds"
#define TRIAL_LORA_WEIGHTS    "lora_weights"
#define TRIAL_LORA_ROUNDS     "lora_rounds"

// Per sample and per stored layer.
#define TRIAL_LABELS  "labels"
#define TRIAL_IS_TEST "is_test"
#define TRIAL_LAYERS  "layers"

// evaluation/refusal_markers, and evaluation/<model>/<set>/ with prompts and texts; model is
// the base or the edited model.
#define TRIAL_EVALUATION      "evaluation"
#define TRIAL_REFUSAL_MARKERS "refusal_markers"
#define TRIAL_MODEL_BASE      "base"
#define TRIAL_MODEL_EDITED    "edited"
#define TRIAL_PROMPTS         "prompts"
#define TRIAL_TEXTS           "texts"
// evaluation/<model>/held_out_text: the perplexity on the task's held-out text.
#define TRIAL_SET_HELD_OUT_TEXT "held_out_text"
#define TRIAL_PERPLEXITY        "perplexity"

// result/: how the loop stopped, and one numeric attribute per outcome figure.
#define TRIAL_RESULT             "result"
#define TRIAL_RESULT_STOP        "stop"
#define TRIAL_RESULT_STOP_DETAIL "stop_detail"
#define TRIAL_RESULT_ROUNDS      "rounds"
#define TRIAL_RESULT_CONVERGED   "converged" // 1 when the loop converged, else 0
#define TRIAL_RESULT_BEST_ROUND  "best_round"
#define TRIAL_RESULT_FINAL_DISC  "final_disc_acc"
#define TRIAL_RESULT_SECONDS     "seconds" // the ARE loop's time

// direction/ of a baseline method (direction_ablation, activation_addition).
#define TRIAL_DIRECTION                   "direction"
#define TRIAL_DIRECTION_METHOD            "method"
#define TRIAL_DIRECTION_LAYER             "layer"
#define TRIAL_DIRECTION_HELD_OUT_ACCURACY "held_out_accuracy"
#define TRIAL_DIRECTION_R                 "r"
#define TRIAL_DIRECTION_STEERING          "steering"
#define TRIAL_DIRECTION_PROJECTION_BASE   "projection_base"
#define TRIAL_DIRECTION_PROJECTION_EDITED "projection_edited"

#endif
