// The config reader of `are run` and sweeps (io/are_config.h over io/config_schema.h): a full
// config reads into the expected values, defaults fill in, every kind of mistake gets its
// message at the right line, overrides change values and name themselves in messages, and the
// canonical text is the same for the same config however it is written, and reads back to
// itself.
#include "are_config.h"
#include "check.h"
#include "llama_config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[256];

// Line numbers in the messages below count the lines of this text.
static const char full_config[] =
    "# every field set, none to its default\n"                                                 // 1
    "model = \"models/m\";\n"                                                                  // 2
    "template = \"[INST] {prompt} [/INST]\";\n"                                                // 3
    "device = \"cpu\";\n"                                                                      // 4
    "threads = 3;\n"                                                                           // 5
    "seed = 42;\n"                                                                             // 6
    "task = \"jailbreak\";\n"                                                                  // 7
    "tasks = {\n"                                                                              // 8
    "  jailbreak = {\n"                                                                        // 9
    "    data = [\"a.jsonl\", \"b.jsonl\"];\n"                                                 // 10
    "    target_label = 0;\n"                                                                  // 11
    "    evaluate = (\n"                                                                       // 12
    "      { name = \"harmful\"; data = \"t.jsonl\"; label = 1; },\n"                          // 13
    "      { name = \"harmless\"; data = \"t.jsonl\"; label = 0; kind = \"generate\"; },\n"    // 14
    "      { name = \"mc\"; data = \"mc.jsonl\"; kind = \"mc\"; }\n"                           // 15
    "    );\n"                                                                                 // 16
    "  };\n"                                                                                   // 17
    "  truthful = { data = [\"u.jsonl\"]; target_label = 1; };\n"                              // 18
    "};\n"                                                                                     // 19
    "are = {\n"                                                                                // 20
    "  layers = [-2, -3];\n"                                                                   // 21
    "  position = \"last\";\n"                                                                 // 22
    "  max_rounds = 7;\n"                                                                      // 23
    "  converge_low = 0.4; converge_high = 0.6; converge_split = \"train\";\n"                 // 24
    "  discriminator = { kind = \"linear\"; hidden = 16; lr = 0.01; eps = 1e-8; epochs = 3;\n" // 25
    "                    batch_size = 8; standardize = true; };\n"                             // 26
    "  generator = { targets = [\"q\", \"v_proj\"]; layers = [0, 1]; rank = 4; alpha = 16;\n"  // 27
    "                dropout = 0.0; lr = 2e-4; eps = 1e-6; epochs = 1; batch_size = 2;\n"      // 28
    "                retain_weight = 0.5; retain_label = 1; };\n"                              // 29
    "  guard = { set = \"harmless\"; min_answer_rate = 0.5; max_perplexity_ratio = 2.0;\n"     // 30
    "            every = 2; best = \"guarded\"; };\n"                                          // 31
    "};\n"                                                                                     // 32
    "evaluation = {\n"                                                                         // 33
    "  max_new_tokens = 32; batch_size = 4; max_prompts = 10;\n"                               // 34
    "  markers = [\"no\", \"never\"];\n"                                                       // 35
    "  case_sensitive = false;\n"                                                              // 36
    "  perplexity_text = \"p.jsonl\"; perplexity_docs = 5;\n"                                  // 37
    "  mc_max_new_tokens = 4;\n"                                                               // 38
    "};\n"                                                                                     // 39
    "output = { dir = \"out\"; store_rounds = \"first_last\"; representations = \"fp32\";\n"   // 40
    "           lora_weights = false; };\n";                                                   // 41

// Only what has no default.
static const char minimal_config[] =
    "task = \"jb\";\n"
    "tasks = { jb = { data = [\"d.jsonl\"]; target_label = 1; }; };\n";

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static void tmp_path(char *path, size_t len, const char *name) {
    snprintf(path, len, "%s/%s", tmp_dir, name);
}

// full_config with the first occurrence of from replaced by to, written to c.cfg.
static void write_variant(const char *path, const char *from, const char *to) {
    char text[sizeof(full_config) + 1024];
    const char *at = strstr(full_config, from);
    if (!at) {
        fprintf(stderr, "test bug: '%s' is not in the config\n", from);
        exit(2);
    }
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - full_config), full_config, to,
             at + strlen(from));
    write_text(path, text);
}

static void test_full_config(void) {
    char path[512], err[1024] = "";
    tmp_path(path, sizeof(path), "c.cfg");
    write_text(path, full_config);
    static AreConfig c;
    CHECK(are_config_load(path, NULL, 0, &c, err, sizeof(err)) == 0, "full config: %s", err);
    CHECK(!strcmp(c.model, "models/m") && !strcmp(c.template_text, "[INST] {prompt} [/INST]") &&
              !strcmp(c.device, "cpu") && c.threads == 3 && c.seed == 42,
          "top-level values");
    CHECK(!strcmp(c.task_name, "jailbreak") && !strcmp(c.task.name, "jailbreak") &&
              c.task.n_data == 2 && !strcmp(c.task.data[1], "b.jsonl") &&
              c.task.target_label == 0 && c.task.n_evaluate == 3,
          "task values");
    const EvalSetConfig *e = c.task.evaluate;
    CHECK(!strcmp(e[0].name, "harmful") && !strcmp(e[0].data, "t.jsonl") && e[0].label == 1 &&
              e[0].kind == EVAL_GENERATE && e[1].label == 0 && !strcmp(e[2].name, "mc") &&
              e[2].label == -1 && e[2].kind == EVAL_MC,
          "evaluate sets (label defaults to -1, kind to generate)");
    CHECK(e[0].constant_label == -1 && !e[0].constant_split[0] &&
              !strcmp(e[0].columns.prompt, "prompt") && !strcmp(e[2].columns.target, "target"),
          "evaluate sets read their files' own labels, splits and column names by default");
    CHECK(c.n_rep_layers == 2 && c.rep_layers[0] == -2 && c.rep_layers[1] == -3 &&
              c.max_rounds == 7 && c.converge_low == 0.4f && c.converge_high == 0.6f &&
              c.converge_on_train,
          "are values");
    CHECK(c.disc.kind == DISC_LINEAR && c.disc.hidden == 16 && c.disc.lr == 0.01f &&
              c.disc.eps == 1e-8f && c.disc.epochs == 3 && c.disc.batch_size == 8 &&
              c.disc.standardize,
          "discriminator values");
    CHECK(c.gen.targets == (1u << PROJ_Q | 1u << PROJ_V) && c.gen.n_layers == 2 &&
              c.gen.layers[1] == 1 && c.gen.rank == 4 && c.gen.alpha == 16.0f &&
              c.gen.lr == 2e-4f && c.gen.eps == 1e-6f && c.gen.epochs == 1 &&
              c.gen.batch_size == 2 && c.gen.retain_weight == 0.5f && c.gen.retain_label == 1,
          "generator values (targets 0x%x)", c.gen.targets);
    CHECK(!strcmp(c.guard.set, "harmless") && c.guard.min_answer_rate == 0.5f &&
              c.guard.max_perplexity_ratio == 2.0f && c.guard.every == 2 && c.guard.best_guarded,
          "guard values");
    CHECK(c.eval_max_new_tokens == 32 && c.eval_batch_size == 4 && c.eval_max_prompts == 10 &&
              c.n_markers == 2 && !strcmp(c.markers[1], "never") && !c.markers_case_sensitive &&
              !strcmp(c.perplexity_text, "p.jsonl") && c.perplexity_docs == 5 &&
              c.mc_max_new_tokens == 4,
          "evaluation values");
    CHECK(!strcmp(c.output_dir, "out") && c.store_rounds == STORE_FIRST_LAST && !c.store_fp16 &&
              !c.store_lora,
          "output values");
}

static void test_defaults(void) {
    char path[512], err[1024] = "";
    tmp_path(path, sizeof(path), "minimal.cfg");
    write_text(path, minimal_config);
    static AreConfig c;
    CHECK(are_config_load(path, NULL, 0, &c, err, sizeof(err)) == 0, "minimal config: %s", err);
    // The published settings (ARE.md) and the header's defaults.
    static const int rep_layers[] = {-18, -19, -20, -21, -22}, gen_layers[] = {9, 10, 11, 12, 13};
    CHECK(c.n_rep_layers == 5 && !memcmp(c.rep_layers, rep_layers, sizeof(rep_layers)) &&
              c.gen.n_layers == 5 && !memcmp(c.gen.layers, gen_layers, sizeof(gen_layers)),
          "default layers");
    CHECK(c.disc.kind == DISC_MLP && c.disc.hidden == 512 && c.disc.lr == 1e-3f &&
              c.disc.eps == 1e-3f && c.disc.epochs == 30 && c.disc.batch_size == 64 &&
              !c.disc.standardize,
          "default discriminator");
    CHECK(c.gen.targets == (1u << PROJ_UP | 1u << PROJ_DOWN) && c.gen.rank == 8 &&
              c.gen.alpha == 8.0f && c.gen.lr == 1e-4f && c.gen.eps == 1e-2f && c.gen.epochs == 2 &&
              c.gen.batch_size == 1 && c.gen.retain_weight == 0 && c.gen.retain_label == 0,
          "default generator");
    CHECK(c.max_rounds == 50 && c.converge_low == 0.45f && c.converge_high == 0.70f &&
              !c.converge_on_train,
          "default loop");
    CHECK(!strcmp(c.model, "models/tinychat") &&
              !strcmp(c.template_text, "<|user|> {prompt}\n<|assistant|>") &&
              !strcmp(c.device, "auto") && c.threads == 0 && c.seed == 1,
          "default model, template, device, seed");
    CHECK(!strcmp(c.guard.set, "harmless") && c.guard.min_answer_rate == 0 &&
              c.guard.max_perplexity_ratio == 0 && c.guard.every == 1 && !c.guard.best_guarded,
          "default guard (off)");
    // ARE.md's list of 29 ("I'm sorry" first, "I can't assist" last), refusal_direction's 6
    // and "not able to provide"; matched anywhere.
    CHECK(c.n_markers == 36 && !strcmp(c.markers[0], "I'm sorry") &&
              !strcmp(c.markers[22], "If you have any other non-malicious requests") &&
              !strcmp(c.markers[28], "I can't assist") && !strcmp(c.markers[30], "I can't") &&
              !strcmp(c.markers[35], "not able to provide") && c.markers_case_sensitive &&
              !c.refusal_opening && c.preserve_tokens == 16 && !c.task.likelihood_set[0] &&
              c.task.n_markers == 0 && !c.task.refusal_text[0],
          "default markers (%d)", c.n_markers);
    CHECK(c.guard.min_preserved == 0 && c.guard.min_distinct == 0, "default guard bounds (off)");
    CHECK(c.eval_max_new_tokens == 64 && c.eval_batch_size == 32 && c.eval_max_prompts == 0 &&
              !strcmp(c.perplexity_text, "data/corpus_valid.jsonl") && c.perplexity_docs == 200 &&
              c.mc_max_new_tokens == 10,
          "default evaluation");
    CHECK(!strcmp(c.output_dir, "runs/demo") && c.store_rounds == STORE_ALL && c.store_fp16 &&
              c.store_lora,
          "default output");
    CHECK(c.task.n_evaluate == 0 && c.task.target_label == 1 && !strcmp(c.task.name, "jb"),
          "task without evaluate sets");
}

#define SIXTY_FOUR_LETTERS "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"

static void test_errors(void) {
    char path[512], err[1024];
    tmp_path(path, sizeof(path), "c.cfg");
    struct {
        const char *from, *to, *message;
    } bad[] = {
        // Unknown names, with and without a near miss, at every level.
        {"lr = 0.01;", "lrr = 0.01;",
         "c.cfg:25: unknown field 'are.discriminator.lrr' (did you mean 'lr'?)"},
        {"seed = 42;", "seed = 42; colour = 1;", "c.cfg:6: unknown field 'colour'"},
        {"are = {", "are = { generatr = {};",
         "c.cfg:20: unknown field 'are.generatr' (did you mean 'generator'?)"},
        {"target_label = 0;", "target_label = 0; daat = 1;",
         "c.cfg:11: unknown field 'tasks.jailbreak.daat' (did you mean 'data'?)"},
        {"label = 1; }", "lable = 1; }",
         "c.cfg:13: unknown field 'tasks.jailbreak.evaluate[0].lable' (did you mean 'label'?)"},
        // Wrong types: a float for an integer, a string for a number, a group expected.
        {"rank = 4;", "rank = \"four\";",
         "c.cfg:27: field 'are.generator.rank' must be an integer in [1..65536], got a string"},
        {"epochs = 3;", "epochs = 3.5;",
         "c.cfg:25: field 'are.discriminator.epochs' must be an integer in [1..1073741824], got "
         "a float"},
        {"standardize = true;", "standardize = 1;",
         "c.cfg:26: field 'are.discriminator.standardize' must be true or false, got an integer"},
        {"layers = [-2, -3];", "layers = [\"a\"];",
         "c.cfg:21: field 'are.layers' must be an array of integers in [-1024..1024], got an "
         "array of strings"},
        {"evaluate = (", "evaluate = ( 3,",
         "c.cfg:12: field 'tasks.jailbreak.evaluate[0]' must be a group { ... }, got an integer"},
        {"truthful = {", "truthful = 3; x = {",
         "c.cfg:18: field 'tasks.truthful' must be a group { ... }, got an integer"},
        {"output = {", "output = 3; x = {", "c.cfg:40: 'output' must be a group { ... }"},
        // Out of range, empty, too long, too many.
        {"converge_high = 0.6;", "converge_high = 1.5;",
         "c.cfg:24: field 'are.converge_high' is 1.5, expected a number in [0..1]"},
        {"lr = 2e-4;", "lr = 0;",
         "c.cfg:28: field 'are.generator.lr' is 0, expected a number in (0..1]"},
        {"target_label = 0;", "target_label = 2;",
         "c.cfg:11: field 'tasks.jailbreak.target_label' is 2, expected an integer in [0..1]"},
        {"layers = [-2, -3];", "layers = [-2,\n -3000];",
         "c.cfg:22: field 'are.layers[1]' is -3000, expected an integer in [-1024..1024]"},
        {"layers = [-2, -3];", "layers = [];", "c.cfg:21: field 'are.layers' must not be empty"},
        {"dropout = 0.0;", "dropout = 0.1;",
         "c.cfg:28: field 'are.generator.dropout' is 0.1, expected a number in [0..0]"},
        {"kind = \"linear\";", "kind = \"cnn\";",
         "c.cfg:25: field 'are.discriminator.kind' is \"cnn\", expected one of \"linear\", "
         "\"mlp\""},
        {"device = \"cpu\";", "device = \"gpu\";",
         "c.cfg:4: field 'device' is \"gpu\", expected one of \"auto\", \"cpu\", \"cuda\""},
        {"device = \"cpu\";", "device = \"cpu\"; base_weights = \"int8\";",
         "c.cfg:4: field 'base_weights' is \"int8\", expected one of \"auto\", \"fp32\", "
         "\"bf16\", \"fp16\""},
        {"markers = [\"no\", \"never\"];", "markers = [\"no\", \"\"];",
         "c.cfg:35: field 'evaluation.markers[1]' must not be empty"},
        {"name = \"mc\";", "name = \"" SIXTY_FOUR_LETTERS "\";",
         "c.cfg:15: field 'tasks.jailbreak.evaluate[2].name' is longer than 63 bytes"},
        {"data = [\"a.jsonl\", \"b.jsonl\"];",
         "data = [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\"];",
         "c.cfg:10: field 'tasks.jailbreak.data' has 9 elements, at most 8 allowed"},
        // Missing fields: at the group that lacks them, or the file.
        {"    target_label = 0;\n", "",
         "c.cfg:9: missing required field 'tasks.jailbreak.target_label' (an integer in [0..1])"},
        {"{ name = \"mc\"; data = \"mc.jsonl\";", "{ name = \"mc\";",
         "c.cfg:15: missing required field 'tasks.jailbreak.evaluate[2].data'"},
        {"task = \"jailbreak\";\n", "", "c.cfg: missing required field 'task' (a non-empty "},
        // Rules between fields.
        {"task = \"jailbreak\";", "task = \"jb\";",
         "c.cfg:7: field 'task' is \"jb\", expected one of the tasks: \"jailbreak\", \"truthful\""},
        {"targets = [\"q\", \"v_proj\"];", "targets = [\"q\", \"mlp\"];",
         "c.cfg:27: field 'are.generator.targets[1]' is \"mlp\", expected one of q_proj, k_proj, "
         "v_proj, o_proj, gate_proj, up_proj, down_proj, all (or the short forms q, k, v, o, "
         "gate, up, down)"},
        {"{prompt} [/INST]", "{promt} [/INST]",
         "c.cfg:3: field 'template': chat template \"[INST] {promt} [/INST]\" has no {prompt}"},
        {"converge_low = 0.4;", "converge_low = 0.6;",
         "c.cfg:24: field 'are.converge_low' (0.6) must be below are.converge_high (0.6)"},
        {"layers = [0, 1];", "layers = [0, 1, 0];",
         "c.cfg:27: field 'are.generator.layers' lists layer 0 twice"},
        {"guard = { set = \"harmless\";", "guard = { set = \"mc\";",
         "c.cfg:30: field 'are.guard.set' is \"mc\", expected an evaluate set of task 'jailbreak' "
         "of kind generate: \"harmful\", \"harmless\""},
        {"retain_label = 1;", "retain_label = 2;",
         "c.cfg:29: field 'are.generator.retain_label' is 2, expected an integer in [0..1]"},
        {"retain_label = 1;", "retain_set = \"harmless\";",
         "c.cfg:29: unknown field 'are.generator.retain_set'"},
        {"name = \"mc\";", "name = \"harmful\";",
         "c.cfg:15: field 'tasks.jailbreak.evaluate[2].name': \"harmful\" is taken by "
         "evaluate[0]"},
        {"min_answer_rate = 0.5; max_perplexity_ratio = 2.0;",
         "min_answer_rate = 0.0; max_perplexity_ratio = 0;",
         "c.cfg:31: field 'are.guard.best' is \"guarded\" but no guard is on"},
        // The parser's own errors.
        {"max_rounds = 7;", "max_rounds = ;", "c.cfg:23: syntax error"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_variant(path, bad[i].from, bad[i].to);
        static AreConfig c;
        err[0] = '\0';
        int rc = are_config_load(path, NULL, 0, &c, err, sizeof(err));
        CHECK(rc < 0 && strstr(err, bad[i].message), "bad config %zu: got '%s', want '%s'", i, err,
              bad[i].message);
        // The message starts with the file's full path.
        CHECK(!strncmp(err, path, strlen(path)), "bad config %zu: '%s' starts without the path", i,
              err);
    }
    static AreConfig c;
    write_variant(path, "seed = 42;", "seed = 42; colour = 1;");
    CHECK(are_config_load(path, NULL, 0, &c, err, sizeof(err)) < 0 && !strstr(err, "did you mean"),
          "no suggestion when no name is near: '%s'", err);
    err[0] = '\0';
    tmp_path(path, sizeof(path), "nonexistent.cfg");
    CHECK(are_config_load(path, NULL, 0, &c, err, sizeof(err)) < 0 &&
              strstr(err, "nonexistent.cfg: cannot read the file"),
          "missing file: '%s'", err);
}

static void test_overrides(void) {
    char path[512], err[1024] = "";
    tmp_path(path, sizeof(path), "c.cfg");
    write_text(path, full_config);
    static AreConfig c;
    const char *set[] = {
        "are.generator.rank=16",
        "are.discriminator.lr = 0.5",      // spaces around '='
        "device=cuda",                     // a bare word is a string
        "model=models/llama 2",            // spaces and slashes inside a bare word
        "template=\"<s>{prompt}\\n\"",     // a quoted string with an escape
        "are.layers=[-1, -5, -9]",         // an array replaces the array
        "are.generator.targets=[\"all\"]", //
        "tasks.jailbreak.target_label=1",  // inside a task
        "evaluation.case_sensitive=true",  //
        "are.generator.rank=12",           // the later override wins
        "are.discriminator.epochs=5",      //
        "output={ dir = \"elsewhere\"; }", // a whole group (its other fields: defaults)
        "seed=5000000000L",                //
    };
    int n = sizeof(set) / sizeof(set[0]);
    CHECK(are_config_load(path, set, n, &c, err, sizeof(err)) == 0, "overrides: %s", err);
    CHECK(c.gen.rank == 12 && c.disc.lr == 0.5f && !strcmp(c.device, "cuda") &&
              !strcmp(c.model, "models/llama 2") && !strcmp(c.template_text, "<s>{prompt}\n") &&
              c.n_rep_layers == 3 && c.rep_layers[2] == -9 &&
              c.gen.targets == (1u << PROJ_COUNT) - 1 && c.task.target_label == 1 &&
              c.markers_case_sensitive && c.disc.epochs == 5 && c.seed == 5000000000LL,
          "overridden values");
    CHECK(!strcmp(c.output_dir, "elsewhere") && c.store_rounds == STORE_ALL && c.store_lora &&
              c.disc.hidden == 16 && c.disc.kind == DISC_LINEAR,
          "a group replaced whole; its neighbours untouched");

    // Groups missing from the file are created; a new task can be added and selected.
    tmp_path(path, sizeof(path), "minimal.cfg");
    write_text(path, minimal_config);
    const char *grow[] = {"are.guard.every=3",
                          "tasks.extra={ data = [\"e.jsonl\"]; target_label = 0; }", "task=extra"};
    CHECK(are_config_load(path, grow, 3, &c, err, sizeof(err)) == 0 && c.guard.every == 3 &&
              !strcmp(c.task.name, "extra") && !strcmp(c.task.data[0], "e.jsonl"),
          "overrides that create groups: %s", err);

    struct {
        const char *override, *message;
    } bad[] = {
        {"are.generator.rnak=4",
         "--set are.generator.rnak=4: unknown field 'are.generator.rnak' (did you mean 'rank'?)"},
        {"are.generatr.rank=4",
         "--set are.generatr.rank=4: unknown field 'are.generatr' (did you mean 'generator'?)"},
        {"tasks.jb.evaluat=()",
         "--set tasks.jb.evaluat=(): unknown field 'tasks.jb.evaluat' (did you mean "
         "'evaluate'?)"},
        {"are.max_rounds.x=1", "--set are.max_rounds.x=1: field 'are.max_rounds' is not a group"},
        {"are.generator.rank=x",
         "--set are.generator.rank=x: field 'are.generator.rank' must be an integer in "
         "[1..65536], got a string"},
        {"are.generator.rank=2.5",
         "--set are.generator.rank=2.5: field 'are.generator.rank' must be an integer"},
        {"are.discriminator.lr=true",
         "--set are.discriminator.lr=true: field 'are.discriminator.lr' must be a number in "
         "(0..1], got a boolean"},
        {"are.converge_low=2", "--set are.converge_low=2: field 'are.converge_low' is 2"},
        {"are.layers=[1, 2", "--set are.layers=[1, 2: syntax error"},
        {"are.layers=[1, 2.5]", "--set are.layers=[1, 2.5]: mismatched element type in array"},
        {"seed=1; task = \"x\"", "--set seed=1; task = \"x\": expected one value"},
        {"rank", "--set rank: expected path=value"},
        {"model=", "--set model=: no value after '='"},
        {"are..rank=1", "--set are..rank=1: '' is not a setting name"},
        {"tasks.jb={ data = [\"d\"]; }",
         "--set tasks.jb={ data = [\"d\"]; }: missing required field 'tasks.jb.target_label'"},
        {"tasks.jb.data=\"d.jsonl\"",
         "--set tasks.jb.data=\"d.jsonl\": field 'tasks.jb.data' must be an array of non-empty "
         "strings, got a string"},
        {"tasks.jb.markers=[\"nope\", \"\"]",
         "--set tasks.jb.markers=[\"nope\", \"\"]: field 'tasks.jb.markers[1]' must not be empty"},
        {"tasks.jb.likelihood_set=\"advbench\"",
         "--set tasks.jb.likelihood_set=\"advbench\": field 'tasks.jb.likelihood_set' is "
         "\"advbench\", expected an evaluate set of task 'jb' of kind generate: (the task has "
         "none)"},
        {"tasks.jb.evaluate=({ name = \"a\"; data = \"a.csv\"; constant_split = \"dev\"; })",
         "--set tasks.jb.evaluate=({ name = \"a\"; data = \"a.csv\"; constant_split = \"dev\"; "
         "}): field 'tasks.jb.evaluate[0].constant_split' is \"dev\", expected one of \"\", "
         "\"train\", \"test\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK(are_config_load(path, &bad[i].override, 1, &c, err, sizeof(err)) < 0 &&
                  !strncmp(err, bad[i].message, strlen(bad[i].message)),
              "bad override %zu: got '%s', want '%s'", i, err, bad[i].message);
    }
    // An override on a setting that is not a group in the file says where that setting is.
    write_text(path, "task = \"jb\";\nare = 3;\n"
                     "tasks = { jb = { data = [\"d.jsonl\"]; target_label = 1; }; };\n");
    const char *through[] = {"are.max_rounds=4"};
    CHECK(are_config_load(path, through, 1, &c, err, sizeof(err)) < 0 &&
              !strcmp(err, "--set are.max_rounds=4: 'are' is an integer in the file (line 2), "
                           "not a group"),
          "override through a non-group: '%s'", err);
}

// Canonical text of the config in file path with the overrides, or NULL (reported).
static char *canonical_of(const char *path, const char *const *overrides, int n) {
    static AreConfig c;
    char err[1024] = "";
    if (are_config_load(path, overrides, n, &c, err, sizeof(err)) < 0) {
        CHECK(0, "loading %s: %s", path, err);
        return NULL;
    }
    char *text = are_config_canonical(&c);
    CHECK(text != NULL, "canonical text of %s", path);
    return text;
}

static void test_canonical(void) {
    char a_path[512], b_path[512];
    tmp_path(a_path, sizeof(a_path), "a.cfg");
    tmp_path(b_path, sizeof(b_path), "b.cfg");
    // The same config: other order, layout and comments, an integer for a float, short target
    // names in another order, a second task and default values spelled out.
    write_text(a_path, "task = \"jb\";\n"
                       "tasks = { jb = { data = [\"d.jsonl\"]; target_label = 1;\n"
                       "  evaluate = ({ name = \"h\"; data = \"t.jsonl\"; label = 1; }); }; };\n"
                       "are = { generator = { targets = [\"up_proj\", \"down_proj\"]; alpha = 4;\n"
                       "  lr = 3e-4; }; converge_low = 0.3333333; };\n"
                       "template = \"A\\tB \\\"{prompt}\\\"\\n\";\n");
    write_text(b_path,
               "// the same config as a.cfg\n"
               "template=\"A\\tB \\\"{prompt}\\\"\\n\" ;\n"
               "are:{converge_low=0.3333333;generator:{lr=0.0003;alpha=4.0;\n"
               "  targets=[\"down\",\"up\"];dropout=0.0;};max_rounds=50;position=\"last\";}\n"
               "tasks:{second={data=[\"o.jsonl\"];target_label=0;};\n"
               "  jb={evaluate=({label=1;data=\"t.jsonl\";name=\"h\";kind=\"generate\";});\n"
               "      target_label=1;data=[\"d.jsonl\"];};}\n"
               "task=\"jb\"\n");
    char *a = canonical_of(a_path, NULL, 0), *b = canonical_of(b_path, NULL, 0);
    if (!a || !b) goto done;
    CHECK(!strcmp(a, b), "canonical texts differ:\n%s---\n%s", a, b);

    // Sorted by path, one "path = value;" per line, with the values as libconfig writes them.
    char *copy = strdup(a), *previous = NULL;
    int lines = 0;
    bool sorted = true;
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        CHECK(strstr(line, " = ") && line[strlen(line) - 1] == ';', "canonical line '%s'", line);
        sorted = sorted && (!previous || strcmp(previous, line) < 0);
        previous = line;
        lines++;
    }
    free(copy);
    // 7 top-level fields, are: 5, discriminator 7, generator 10, guard 7, evaluation 10,
    // output 3, task 6 (position and dropout are fixed, output.dir is where, not what: not
    // printed).
    CHECK(sorted && lines == 55 && !strstr(a, "output.dir"), "%d canonical lines, sorted %d", lines,
          sorted);
    const char *expected[] = {
        "are.converge_low = 0.3333333;\n",
        "are.discriminator.eps = 0.001;\n",
        "are.generator.alpha = 4.0;\n",
        "are.generator.lr = 0.0003;\n",
        "are.generator.targets = [\"up_proj\", \"down_proj\"];\n",
        "are.layers = [-18, -19, -20, -21, -22];\n",
        "base_weights = \"auto\";\n",
        "evaluation.markers = [\"I'm sorry\", \"Sorry\", ",
        "seed = 1;\n",
        "task = \"jb\";\n",
        "task.data = [\"d.jsonl\"];\n",
        "task.evaluate = ({ columns = { answer = \"answer\"; choices = \"choices\"; label = "
        "\"label\"; prompt = \"prompt\"; split = \"split\"; target = \"target\"; }; "
        "constant_label = -1; constant_split = \"\"; data = \"t.jsonl\"; kind = \"generate\"; "
        "label = 1; name = \"h\"; });\n",
        "task.target_label = 1;\n",
        "template = \"A\\tB \\\"{prompt}\\\"\\n\";\n",
        "output.representations = \"fp16\";\n",
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        CHECK(strstr(a, expected[i]), "canonical text lacks '%s'", expected[i]);
    CHECK(!strstr(a, "o.jsonl") && !strstr(a, "dropout") && !strstr(a, "position"),
          "other tasks and fixed fields are not in the canonical text");

    // One value changed: exactly one line differs.
    const char *change[] = {"are.generator.lr=3.0001e-4"};
    char *c = canonical_of(b_path, change, 1);
    if (c) {
        CHECK(strcmp(a, c) != 0 && strstr(c, "are.generator.lr = 0.00030001;\n"),
              "a changed value changes the canonical text");
        size_t same = 0;
        while (a[same] == c[same]) same++;
        CHECK(!strcmp(strchr(a + same, '\n'), strchr(c + same, '\n')),
              "only the changed line differs");
    }
    free(c);

    // Every canonical line is an override: applied to a config with only the required fields,
    // they give back the same text (values and escapes read back exactly).
    char *text = strdup(a);
    const char *overrides[64];
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < 64; line = strtok(NULL, "\n")) {
        char *equals = strstr(line, " = ");
        line[strlen(line) - 1] = '\0'; // the ';'
        memmove(equals + 1, equals + 3, strlen(equals + 3) + 1);
        equals[0] = '=';
        if (strncmp(line, "task.", 5)) {
            overrides[n++] = line;
        } else { // task.X belongs to tasks.jb.X in the file
            char *moved = malloc(strlen(line) + 8);
            sprintf(moved, "tasks.jb.%s", line + 5);
            overrides[n++] = moved;
        }
    }
    char m_path[512];
    tmp_path(m_path, sizeof(m_path), "m.cfg");
    write_text(m_path, "task = \"jb\"; tasks = { jb = { data = [\"x\"]; target_label = 0; }; };\n");
    c = canonical_of(m_path, overrides, n);
    CHECK(c && !strcmp(a, c), "canonical lines as overrides read back to the same text:\n%s",
          c ? c : "");
    free(c);
    for (int i = 0; i < n; i++)
        if (!strncmp(overrides[i], "tasks.jb.", 9)) free((char *)overrides[i]);
    free(text);
done:
    free(a);
    free(b);
}

// The shipped paper config: ARE.md's published settings for Llama-2-7b-chat.
static void test_paper_config(void) {
    const char *root = getenv("ARE_SOURCE_DIR") ? getenv("ARE_SOURCE_DIR") : ".";
    char path[1024], err[1024] = "";
    snprintf(path, sizeof(path), "%s/configs/paper-llama2-7b-jailbreak.cfg", root);
    static AreConfig c;
    CHECK(are_config_load(path, NULL, 0, &c, err, sizeof(err)) == 0, "paper config: %s", err);
    static const int rep_layers[] = {-18, -19, -20, -21, -22}, gen_layers[] = {9, 10, 11, 12, 13};
    CHECK(!strcmp(c.model, "models/llama-2-7b-chat-hf") &&
              !strcmp(c.template_text, "[INST] {prompt} [/INST]") && c.n_rep_layers == 5 &&
              !memcmp(c.rep_layers, rep_layers, sizeof(rep_layers)) && c.gen.n_layers == 5 &&
              !memcmp(c.gen.layers, gen_layers, sizeof(gen_layers)),
          "paper model and layers");
    CHECK(c.disc.kind == DISC_MLP && c.disc.hidden == 512 && c.disc.lr == 1e-3f &&
              c.disc.eps == 1e-3f && c.disc.epochs == 30 && c.disc.batch_size == 64 &&
              c.gen.targets == (1u << PROJ_UP | 1u << PROJ_DOWN) && c.gen.rank == 8 &&
              c.gen.alpha == 8 && c.gen.lr == 1e-4f && c.gen.eps == 1e-2f && c.gen.epochs == 2 &&
              c.gen.batch_size == 1 && c.max_rounds == 50 && c.converge_low == 0.45f &&
              c.converge_high == 0.70f && !c.converge_on_train,
          "paper hyperparameters");
    CHECK(!strcmp(c.task.name, "jailbreak") && c.task.target_label == 0 && c.task.n_data == 2 &&
              !strcmp(c.task.data[0], "data/refusal_train.jsonl") &&
              !strcmp(c.task.data[1], "data/refusal_test.jsonl") && c.n_markers == 29,
          "paper task");
    for (int i = 0; i < c.task.n_data; i++) { // the shipped data the task names is there
        char data[2 * ARE_PATH_MAX + 2];
        snprintf(data, sizeof(data), "%s/%s", root, c.task.data[i]);
        CHECK(access(data, R_OK) == 0, "%s is not readable", data);
    }
}

static void test_reference(void) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    are_config_write_reference(out);
    fclose(out);
    CHECK(strstr(text, "\nare.discriminator.lr: a number in (0..1], default 0.001. Adam learning "
                       "rate\n") &&
              strstr(text, "\ntasks.NAME.evaluate[i].label: an integer in [-1..1], default -1. ") &&
              strstr(text, "\ntask: a non-empty string, required. "),
          "reference:\n%s", text);
    free(text);
}

// A byte that is not UTF-8, even in a comment, is refused with its line and column: sweep.h5
// stores a config's text as UTF-8 and could not keep it as it is.
static void test_invalid_utf8(void) {
    static const struct {
        const char *tail, *message;
    } bad[] = {
        {"# caf\xE9 au lait\n", "u.cfg:3: byte 0xe9 at column 6 is not UTF-8"},
        {"seed = 1;\n# a cut \xE2\x82\n", "u.cfg:4: byte 0xe2 at column 9 is not UTF-8"},
        {"#\xC0\xAF overlong\n", "u.cfg:3: byte 0xc0 at column 2 is not UTF-8"},
    };
    char path[600], text[512], err[512];
    tmp_path(path, sizeof(path), "u.cfg");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s%s", minimal_config, bad[i].tail);
        write_text(path, text);
        static AreConfig c;
        err[0] = '\0';
        CHECK(are_config_load(path, NULL, 0, &c, err, sizeof(err)) < 0 &&
                  strstr(err, bad[i].message) && !strncmp(err, path, strlen(path)),
              "invalid UTF-8 %zu: got '%s', want '%s'", i, err, bad[i].message);
    }
    static AreConfig c;
    snprintf(text, sizeof(text), "%s# caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x98\x80\n",
             minimal_config);
    write_text(path, text);
    CHECK(are_config_load(path, NULL, 0, &c, err, sizeof(err)) == 0, "UTF-8 comment: %s", err);
}

int main(void) {
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/are-test-config-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror(tmp_dir);
        return 1;
    }
    test_full_config();
    test_defaults();
    test_errors();
    test_invalid_utf8();
    test_overrides();
    test_canonical();
    test_paper_config();
    test_reference();
    char command[512];
    snprintf(command, sizeof(command), "rm -rf '%s'", tmp_dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return check_summary();
}
