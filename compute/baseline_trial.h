// The baselines a sweep compares ARE against, run in place of the ARE loop on the same
// prompts, through the same sink, so their trial files have ARE's layout:
//
//   none:               the base model, measured as round 0 (the control row of every table);
//   direction_ablation: round 0 measures the base model; r = the class-mean direction
//                       (direction.h) at the representation layer (of those allowed) whose r
//                       best separates the test split (threshold at the midpoint of the train class
//                       means); the model is orthogonalised against r (a rank-1 LoRA on every
//                       o_proj and down_proj, and the token embedding's: direction.h) and measured
//                       again as round 1;
//   activation_addition: r chosen as for the ablation among the layers below the final norm;
//                       alpha * r, signed to point towards target_label's class, is added to
//                       the residual stream at that layer at every position (llama.h's steer)
//                       and the model measured again as round 1 (RepE's contrast vector,
//                       ActAdd). The steering stays on the model for the caller's evaluation.
//
// A round's measurement is are_trial_run's round 0 on the model as it is (keep_lora): the
// representations and a fresh discriminator's accuracy on both splits.
#ifndef ARE_BASELINE_TRIAL_H
#define ARE_BASELINE_TRIAL_H

#include "are_trial.h"

typedef enum {
    BASELINE_NONE,
    BASELINE_DIRECTION_ABLATION,
    BASELINE_ACTIVATION_ADDITION
} BaselineKind;

typedef struct {
    BaselineKind kind;
    float alpha;  // activation addition's scale
    int n_layers; // 0: r may be taken at any of the representation layers (opt's rep_layers)
    int layers[LLAMA_MAX_CAPTURE]; // else only at these (each one of opt's rep_layers)
} BaselineOptions;

// The direction a baseline used; every pointer malloc'd (baseline_direction_free), all NULL
// for none.
typedef struct {
    int layer;           // HF hidden_states index r was taken at
    double held_out_acc; // the threshold accuracy along r on the test split at that layer
    int dim, n;
    float *r;           // [dim], unit norm
    float *proj_before; // [n] <representation at layer, r> of every sample, base model
    float *proj_after;  // [n] the same, edited model
    float *steering;    // [dim] what activation addition adds (alpha * +-r), else NULL
} BaselineDirection;

// A LoRA for m that a baseline of kind can set (direction_lora_create); NULL when out of memory.
Lora *baseline_lora(const LlamaModel *m);

// Runs the baseline b on m, whose LoRA is baseline_lora's, with opt's layers, discriminator,
// extraction and storage settings (its rounds, generator and guard settings unused); fills
// result (rounds, stop, best_round, final_disc_acc, seconds) and dir. Activation addition leaves
// m->steer set to a backend buffer the caller frees (be->free) when done with the steered model;
// direction ablation leaves m->embed_lora set (embedding_lora_free), also after a failure. Returns
// 0, or -1 with the reason in err.
int baseline_trial_run(LlamaModel *m, const AreSamples *samples, const AreOptions *opt,
                       const BaselineOptions *b, const AreSink *sink, AreResult *result,
                       BaselineDirection *dir, char *err, size_t err_len);

void baseline_direction_free(BaselineDirection *dir);

#endif
