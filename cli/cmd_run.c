// `are run CONFIG`: one ARE trial end to end: the base model evaluated, the adversarial loop,
// the edited model evaluated, everything in the trial's HDF5 file, the adapter exported.
#include "commands.h"
#include "model_eval.h"
#include "model_load.h"
#include "run_args.h"
#include "trial.h"

#include <stdio.h>
#include <stdlib.h>

static const char synopsis[] =
    "usage: are run CONFIG [options]\n"
    "\n"
    "Runs one ARE trial as CONFIG describes (see README, \"The trial config\"): evaluates the\n"
    "base model, edits it with the adversarial loop (a line per round), evaluates the edited\n"
    "model, and writes OUTPUT/trials/<id>.h5 (config, per-round metrics, representations,\n"
    "evaluations) and the edited adapter in PEFT format to OUTPUT/adapters/<id>/, where\n"
    "OUTPUT is the config's output.dir and <id> the hash of the resolved config.\n"
    "\n";

int cmd_run(int argc, char **argv) {
    RunArgs a = {0};
    const Option options[] = {
        run_option_set(&a, "override a config field (repeatable), e.g. --set are.max_rounds=5"),
        option_threads(&a.threads, "CPU threads (default: the config's, else every core)"),
        run_option_device(&a, "auto, cpu or cuda: --set device=D (auto: a GPU when there is one)"),
    };
    CommandLine cl = {"run",
                      synopsis,
                      .epilogue = "\nexit codes: 0 the trial ran (converged or not), 1 it failed, "
                                  "2 bad command line\n",
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
        fprintf(stderr, "are run: out of memory\n");
        return EXIT_FAILED;
    }
    ModelSession ms = {0};
    rc = EXIT_FAILED;
    TrialOutcome outcome;
    char id[TRIAL_ID_LEN + 1];
    if (are_config_load(a.config, a.overrides, a.n_overrides, c, err, sizeof err) == 0 &&
        trial_id_of_config(c, 0, id, err, sizeof err) == 0 &&
        model_session_open(
            &ms, c->model, NULL,
            &(DeviceChoice){c->device, c->base_weights, a.threads ? a.threads : c->threads, -1},
            err, sizeof err) == 0 &&
        trial_run(&ms, c, id, stderr, &outcome, err, sizeof err) == 0) {
        rc = EXIT_OK;
        printf("trial %s: %s\n", outcome.id, outcome.summary_line);
        printf("trial file: %s\nadapter:    %s\n", outcome.trial_file,
               outcome.adapter_dir[0] ? outcome.adapter_dir
                                      : "(none: the method edits no weights)");
    }
    if (rc != EXIT_OK) fprintf(stderr, "are run: %s\n", err);
    model_session_close(&ms);
    free(c);
    return rc;
}
