// One ARE trial: the adversarial loop of docs/method.md on a model with a LoRA attached.
//
//   round 0: R(base) -> fresh discriminator D fitted on the train split
//   round r: generator epochs (LoRA trained so that D(R(x)) says target_label for every x),
//            R(edited) -> fresh discriminator D' fitted on the train split, its accuracy on
//            the convergence split; stop when it lies strictly inside the band; D = D'.
//
// Beyond the published method, an optional quality guard (a caller's measurement, e.g. the
// answer rate and perplexity on harmless prompts) runs every few rounds: the trial stops when
// quality falls past a bound, and the LoRA weights left attached at the end are those of the
// best round (the last one that passed the guard) rather than simply the last. An optional
// retain loss (retain.h) adds, at every generator step, retain_weight times the mean KL from
// the base model's next-token distribution to the edited one's on train prompts of one class.
//
// Everything random derives from the seed: LoRA init, discriminator inits and batch orders.
// With retain_weight 0 the trial computes exactly what it computes without the retain loss.
#ifndef ARE_ARE_TRIAL_H
#define ARE_ARE_TRIAL_H

#include "are_sink.h"
#include "discriminator.h"
#include "llama.h"
#include "lora.h"

#include <stdbool.h>
#include <stdint.h>

// The prompts of a task, templated and tokenized, in dataset order (host memory).
typedef struct {
    int n;
    const int *len;      // [n] tokens of each prompt
    const int *tokens;   // [sum len] packed
    const int *labels;   // [n] 0 or 1
    const bool *is_test; // [n] test split (else train)
} AreSamples;

typedef enum { STORE_ROUNDS_ALL, STORE_ROUNDS_FIRST_LAST, STORE_ROUNDS_NONE } StoreRoundsPolicy;

typedef struct {
    int rep_layers[LLAMA_MAX_CAPTURE]; // HF hidden_states indices, concatenated in this order
    int n_rep_layers;
    DiscriminatorConfig disc;
    int target_label;
    float gen_lr, gen_eps; // Adam, a new optimiser every round
    int gen_epochs, gen_batch_size;
    // Retain loss (not published; 0 = off): retain_weight * mean KL(p_base || p) over the train
    // prompts labelled retain_label, p the next-token distribution at the last prompt token,
    // one batch of gen_batch_size of them after every generator batch.
    float retain_weight;
    int retain_label;
    int max_rounds;
    float converge_low, converge_high; // open interval
    bool converge_on_train;            // test the fresh D's accuracy on train (else test) split
    int extract_batch;                 // prompts per forward when extracting representations
    // The blocks below the lowest LoRA block never change, and ARE runs the same prompts through
    // them every round: compute their output (the residual stream entering the lowest LoRA
    // block, every token of every prompt) once at the start and begin every later forward there.
    // Needs the representations at or above that block; memory: all prompt tokens x dim floats.
    bool cache_frozen_blocks;
    uint64_t seed;
    StoreRoundsPolicy store_rounds; // representations sent to the sink
    bool store_lora;                // LoRA weights sent to the sink every round
    // Quality guard: measured at round 0 and every guard_every rounds (0: never).
    int guard_every;
    float min_answer_rate;      // stop below this (0: no bound)
    float max_perplexity_ratio; // stop when perplexity / round-0 perplexity exceeds (0: none)
    float min_preserved;        // stop below this preservation of the base answers (0: none)
    float min_distinct;         // stop below this share of distinct answers (0: none)
    bool best_guarded;          // keep the last round that passed the guard (else the last round)
} AreOptions;

// What the guard measures of the model as it is now; NaN for what it does not measure.
typedef struct {
    double answer_rate, perplexity;
    double preserved;               // how much of the round-0 answers the answers keep (1: all)
    double distinct;                // share of distinct answers
    double target_nll, refusal_nll; // likelihood measures, recorded, never bounds
} AreQuality;

// Measures the model as it is now (LoRA attached), filling q (everything NaN beforehand).
typedef struct {
    void *ctx;
    int (*measure)(void *ctx, LlamaModel *m, AreQuality *q);
} AreGuard;

typedef enum {
    ARE_STOP_CONVERGED,
    ARE_STOP_MAX_ROUNDS,
    ARE_STOP_GUARD,
} AreStop;

typedef struct {
    int rounds; // generator rounds run
    AreStop stop;
    char stop_detail[160]; // one line, e.g. "answer rate 0.35 < 0.50 at round 6"
    int best_round;        // whose LoRA weights are attached at the end (0: the base model)
    double final_disc_acc; // fresh discriminator's accuracy on the convergence split, last round
    double seconds;
} AreResult;

extern const char *const are_stop_names[]; // "converged", "max_rounds", "guard"

// Runs the trial on m, whose attached LoRA (m->lora) is re-initialised from the seed first.
// guard may be NULL (or its measure NULL) when guard_every is 0. Returns 0, or -1 with the
// reason in err (bad options, out of memory, a sink failure, a non-finite loss).
int are_trial_run(LlamaModel *m, const AreSamples *samples, const AreOptions *opt,
                  const AreSink *sink, const AreGuard *guard, AreResult *result, char *err,
                  size_t err_len);

#endif
