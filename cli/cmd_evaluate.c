// `are evaluate CONFIG`: the measured behaviour of a model (and optionally an adapter) on the
// evaluation sets of the config's task, without editing it.
#include "cli_args.h"
#include "commands.h"
#include "model_eval.h"
#include "model_steer.h"
#include "run_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char synopsis[] =
    "usage: are evaluate CONFIG [options]\n"
    "\n"
    "Measures the config's model on the evaluation sets of its task (refusal rate, answer\n"
    "rate, Repetition-4, Repetition-Sen, Self-BLEU, distinct answers, distinct-2, the\n"
    "likelihood of each row's target and of the task's refusal_text, multiple-choice accuracy\n"
    "by generation and by log-likelihood) and its perplexity on the held-out text, and prints\n"
    "one line per metric. CONFIG is an `are run` config (see README, \"The trial config\").\n"
    "\n";

int cmd_evaluate(int argc, char **argv) {
    RunArgs a = {0};
    const Option options[] = {
        run_option_set(&a, "override a config field (repeatable), e.g. --set task=defense"),
        {"--adapter", OPTION_STRING, &a.adapter, "DIR",
         .help = "evaluate with a PEFT LoRA adapter folder applied"},
        {"--steer", OPTION_STRING, &a.steer, "FILE",
         .help = "evaluate with the steering vector of an activation_addition trial\n"
                 "file added to the residual stream at its layer"},
        {"--show", OPTION_INT, &a.show, "N",
         .help = "also print the first N generated answers of every set", .lo = 0, .hi = 1 << 20,
         .expects = "a count >= 0"},
        option_threads(&a.threads, "CPU threads (default: the config's, else every core)"),
        run_option_device(&a, "auto, cpu or cuda: --set device=D (auto: a GPU when there is one)"),
    };
    CommandLine cl = {"evaluate",
                      synopsis,
                      .operand = "CONFIG",
                      .operand_value = &a.config,
                      .operand_required = true,
                      .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    int rc = cli_parse(&cl, argc, argv);
    if (rc >= 0) return rc;
    char err[1024] = "";
    AreConfig *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "are evaluate: out of memory\n");
        return EXIT_FAILED;
    }
    ModelSession ms = {0};
    EvalInputs in = {0};
    ModelEval eval = {0};
    rc = EXIT_FAILED;
    if (are_config_load(a.config, a.overrides, a.n_overrides, c, err, sizeof err) < 0) goto done;
    if (model_session_open(
            &ms, c->model, a.adapter,
            &(DeviceChoice){c->device, c->base_weights, a.threads ? a.threads : c->threads, -1},
            err, sizeof err) < 0 ||
        (a.steer && model_steer(&ms, a.steer, err, sizeof err) < 0) ||
        eval_inputs_load(&in, &ms, c, err, sizeof err) < 0)
        goto done;
    fprintf(stderr, "are evaluate: %s%s%s%s%s, task %s, %d sets, %d held-out documents\n", c->model,
            a.adapter ? " + " : "", a.adapter ? a.adapter : "", a.steer ? " steered by " : "",
            a.steer ? a.steer : "", c->task.name, in.n_sets, in.docs.n);
    if (model_eval_run(&eval, &ms, &in, c, err, sizeof err) < 0) goto done;
    model_eval_print(stdout, &eval, NULL);
    for (int i = 0; i < eval.n_sets && a.show > 0; i++) {
        const SetEval *s = &eval.sets[i];
        printf("\n%s:\n", s->set->config->name);
        for (int k = 0; k < s->n_texts && k < a.show; k++) {
            const PromptRow *row = &s->set->set.rows[s->set->rows[k]];
            printf("  > %s\n    %s\n", row->prompt, s->texts[k]);
        }
    }
    fprintf(stderr, "are evaluate: %.1f s\n", eval.seconds);
    rc = EXIT_OK;
done:
    if (rc != EXIT_OK) fprintf(stderr, "are evaluate: %s\n", err);
    model_eval_free(&eval);
    eval_inputs_free(&in);
    model_unsteer(&ms);
    model_session_close(&ms);
    free(c);
    return rc;
}
