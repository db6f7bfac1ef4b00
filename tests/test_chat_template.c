// A model's own chat template: each family's Jinja text (tests/ref/fixtures/chat_templates/) is
// recognised and, put into the project's template form and filled in, gives exactly the text
// transformers' apply_chat_template(..., add_generation_prompt=True) renders for a system + user
// and a user-only conversation (expect.json, from make_chat_template_fixtures.py); unknown
// templates are refused with a message that asks for an explicit one; the template is read from
// GGUF files and model folders, and "auto" resolves to it.
#include "are_config.h"
#include "chat_template.h"
#include "check.h"
#include "model_chat_template.h"
#include "read_file.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *source_dir(void) {
    const char *dir = getenv("ARE_SOURCE_DIR");
    return dir ? dir : ".";
}

static const char *family_of(const char *file) {
    static const struct {
        const char *file, *family;
    } names[] = {{"chatml", "ChatML"},
                 {"qwen2.5", "ChatML with a default system text"},
                 {"smollm2", "ChatML with a default system text"},
                 {"llama2", "Llama-2"},
                 {"llama3", "Llama-3"},
                 {"mistral", "Mistral"},
                 {"zephyr", "Zephyr"},
                 {"gemma", "Gemma"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].file, file)) return names[i].family;
    return "?";
}

static char *fill(const char *template_text, const char *system, const char *prompt) {
    char err[256];
    char *text =
        template_text ? chat_template_apply(template_text, system, prompt, err, sizeof err) : NULL;
    return text ? text : strdup("(none)");
}

// One family, with the tokenizer adding BOS itself or not: the template must not hold the BOS
// the tokenizer adds, and must hold the one it does not.
static void check_family(const char *name, const json_t *expect, const char *system,
                         const char *prompt, bool adds_bos) {
    char path[4096], err[512] = "";
    snprintf(path, sizeof path, "%s/tests/ref/fixtures/chat_templates/%s.jinja", source_dir(),
             name);
    char *jinja = read_file(path, NULL);
    CHECK(jinja, "cannot read %s", path);
    if (!jinja) return;
    const char *bos = json_string_value(json_object_get(expect, "bos"));
    ChatSpecialTokens special = {bos, json_string_value(json_object_get(expect, "eos")), adds_bos};
    ModelChatTemplate t;
    int rc = model_chat_template_recognise(jinja, &special, &t, err, sizeof err);
    CHECK(rc == 0 && !strcmp(t.family, family_of(name)), "%s: recognised as %s (%s)", name,
          rc == 0 ? t.family : "nothing", err);
    free(jinja);
    if (rc < 0) return;
    const char *user_only = json_string_value(json_object_get(expect, "user_only"));
    const char *system_user = json_string_value(json_object_get(expect, "system_user"));
    // transformers renders the BOS text; a tokenizer that adds BOS gets the rest.
    bool writes_bos = json_is_true(json_object_get(expect, "writes_bos"));
    size_t skip = adds_bos && bos && writes_bos ? strlen(bos) : 0;
    char *got = fill(t.plain, NULL, prompt);
    CHECK(!strcmp(got, user_only + skip),
          "%s (adds BOS: %d), user only:\n got  \"%s\"\n want \"%s\"", name, adds_bos, got,
          user_only + skip);
    free(got);
    if (system_user) {
        got = fill(t.with_system, system, prompt);
        CHECK(!strcmp(got, system_user + skip),
              "%s (adds BOS: %d), system + user:\n got  \"%s\"\n want \"%s\"", name, adds_bos, got,
              system_user + skip);
        free(got);
    } else {
        CHECK(!t.with_system, "%s refuses a system message, yet has a system template \"%s\"", name,
              t.with_system);
    }
    model_chat_template_free(&t);
}

static void test_families(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/ref/fixtures/chat_templates/expect.json", source_dir());
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root, "cannot read %s: %s", path, jerr.text);
    if (!root) return;
    const char *system = json_string_value(json_object_get(root, "system"));
    const char *prompt = json_string_value(json_object_get(root, "prompt"));
    const char *name;
    json_t *expect;
    int n = 0;
    json_object_foreach(json_object_get(root, "families"), name, expect) {
        check_family(name, expect, system, prompt, false);
        check_family(name, expect, system, prompt, true);
        n++;
    }
    CHECK(n == 8, "expect.json has %d families, expected 8", n);
    json_decref(root);
}

static void expect_refused(const char *what, const char *jinja, const char *eos,
                           const char *message) {
    ChatSpecialTokens special = {"<s>", eos, false};
    ModelChatTemplate t;
    char err[512] = "";
    int rc = model_chat_template_recognise(jinja, &special, &t, err, sizeof err);
    CHECK(rc < 0 && strstr(err, message), "%s: rc %d, message '%s', expected one with '%s'", what,
          rc, err, message);
    if (rc == 0) model_chat_template_free(&t);
}

static void test_refused(void) {
    expect_refused("contents alone", "{% for m in messages %}{{ m['content'] }}\n{% endfor %}",
                   "</s>", "a chat template of no family are knows (ChatML, Llama-2");
    expect_refused("Llama-3.1's dated system text",
                   "{{- bos_token }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}"
                   "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}",
                   "<|eot_id|>", "writes its own dated system text; it knows ChatML");
    expect_refused("Mistral v3",
                   "{{- '[AVAILABLE_TOOLS] [' }}{{- '[INST] ' + content + '[/INST]' }}", "</s>",
                   "an [INST] template other than");
    expect_refused("Zephyr without an EOS",
                   "{{ '<|user|>\\n' + message['content'] + eos_token }}\n{{ '<|assistant|>' }}\n",
                   NULL, "no EOS token");
    expect_refused("a default system text with {prompt}",
                   "{{ '<|im_start|>system\\nAnswer {prompt}<|im_end|>\\n' }}", "<|im_end|>",
                   "holds {prompt} or {system}");
}

// A Zephyr template without a system branch has no system turn to fill.
static void test_zephyr_without_system(void) {
    const char *jinja = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
                        "{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% endif %}\n"
                        "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n"
                        "{% endif %}\n{% endfor %}";
    ChatSpecialTokens special = {"<s>", "</s>", true};
    ModelChatTemplate t;
    char err[512] = "";
    int rc = model_chat_template_recognise(jinja, &special, &t, err, sizeof err);
    CHECK(rc == 0 && !strcmp(t.plain, "<|user|>\n{prompt}</s>\n<|assistant|>\n") && !t.with_system,
          "Zephyr without <|system|>: rc %d (%s), plain '%s'", rc, err, rc == 0 ? t.plain : "");
    if (rc == 0) model_chat_template_free(&t);
}

static char *fixture(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/tests/ref/fixtures/%s", source_dir(), name);
    return path;
}

// A folder with tokenizer_config.json (and chat_template.jinja when jinja_file is set).
static void write_folder(const char *dir, const char *config, const char *jinja_file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    fputs(config, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (jinja_file) {
        f = fopen(path, "w");
        fputs(jinja_file, f);
        fclose(f);
    } else {
        unlink(path);
    }
}

static void expect_read(const char *what, const char *path, int want_rc, const char *want) {
    char *jinja = NULL, where[4200] = "", err[512] = "";
    int rc = model_chat_template_read(path, &jinja, where, sizeof where, err, sizeof err);
    CHECK(rc == want_rc && (rc != 1 ? strstr(err, want) != NULL : !strcmp(jinja, want)),
          "%s: rc %d (want %d), got '%s', err '%s', expected '%s'", what, rc, want_rc,
          jinja ? jinja : "", err, want);
    free(jinja);
}

static void test_reading(void) {
    expect_read("hf_tiny", fixture("hf_tiny"), 1,
                "{% for m in messages %}{{ m['content'] }}\n{% endfor %}");
    expect_read("no tokenizer_config.json", fixture("hf_tiny_sharded"), 0, "");
    expect_read("a GGUF without one", fixture("gguf_llama_gqa.gguf"), 0, "");
    expect_read("nowhere", fixture("nowhere"), -1, "nowhere: no such file or folder");

    char dir[] = "/tmp/test_chat_template_XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    write_folder(dir,
                 "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, "
                 "{\"name\": \"default\", \"template\": \"D\"}]}",
                 NULL);
    expect_read("a list of named templates", dir, 1, "D");
    write_folder(dir, "{\"chat_template\": 5}", NULL);
    expect_read(
        "a number", dir, -1,
        "tokenizer_config.json: chat_template is a real number, expected a string or a list");
    write_folder(dir, "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}]}", NULL);
    expect_read("no default", dir, -1, "with one named \"default\"");
    write_folder(dir, "{\"chat_template\": ", NULL);
    expect_read("malformed", dir, -1, "tokenizer_config.json:1:");
    write_folder(dir, "{}", "{{ '<start_of_turn>' }}");
    expect_read("chat_template.jinja", dir, 1, "{{ '<start_of_turn>' }}");

    // resolve: a template as given, "auto" as the model's, "{prompt}" for a model without one.
    char err[1024] = "";
    char *t = model_chat_template_resolve(dir, NULL, "Q: {prompt}", false, err, sizeof err);
    CHECK(t && !strcmp(t, "Q: {prompt}"), "a given template is kept: '%s'", t ? t : err);
    free(t);
    t = model_chat_template_resolve(dir, NULL, "auto", false, err, sizeof err);
    CHECK(t && !strcmp(t, "<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n"),
          "auto on a Gemma folder: '%s'", t ? t : err);
    free(t);
    t = model_chat_template_resolve(dir, NULL, NULL, true, err, sizeof err);
    CHECK(!t && strstr(err, "the model's chat template (Gemma) has no system turn"),
          "a system text for Gemma: '%s'", err);
    free(t);
    t = model_chat_template_resolve(fixture("hf_tiny_sharded"), NULL, NULL, false, err, sizeof err);
    CHECK(t && !strcmp(t, "{prompt}"), "no chat template: the prompt alone, got '%s'", t ? t : err);
    free(t);
    t = model_chat_template_resolve(fixture("hf_tiny_sharded"), NULL, "auto", true, err,
                                    sizeof err);
    CHECK(!t && strstr(err, "carries no chat template, so a system text has nowhere to go"),
          "a system text without a template: '%s'", err);
    free(t);
    t = model_chat_template_resolve(fixture("hf_tiny"), NULL, "auto", false, err, sizeof err);
    CHECK(!t &&
              strstr(err, "hf_tiny/tokenizer_config.json: chat_template: a chat template of no "
                          "family are knows") &&
              strstr(err, "--template"),
          "an unknown template is refused: '%s'", err);
    free(t);
    write_folder(dir, "{}", NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
}

// A real model file, when it is there (path relative to the source folder unless absolute):
// its template as the loader reads it, with its tokenizer's BOS/EOS where the tokenizer loads.
static void test_real_model(const char *file, const char *fixture_name) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", file[0] == '/' ? "" : source_dir(),
             file[0] == '/' ? "" : "/", file);
    if (access(path, R_OK) != 0) {
        SKIP("%s not there", path);
        return;
    }
    char err[1024] = "";
    Tokenizer *tok = tokenizer_load(path, err, sizeof err);
    if (!tok) printf("%s: template read without the tokenizer (%s)\n", file, err);
    ModelChatTemplate t;
    int rc = model_chat_template_load(path, tok, &t, err, sizeof err);
    char want[4096];
    snprintf(want, sizeof want, "%s/tests/ref/fixtures/chat_templates/expect.json", source_dir());
    json_t *expect = json_load_file(want, 0, NULL);
    const char *user_only = json_string_value(json_object_get(
        json_object_get(json_object_get(expect, "families"), fixture_name), "user_only"));
    char *got =
        rc == 1 ? fill(t.plain, NULL, json_string_value(json_object_get(expect, "prompt"))) : NULL;
    CHECK(got && user_only && !strcmp(got, user_only), "%s: got '%s' (%s), want '%s'", file,
          got ? got : "", err, user_only ? user_only : "");
    free(got);
    if (rc == 1) model_chat_template_free(&t);
    json_decref(expect);
    tokenizer_free(tok);
}

// A config's template = "auto" passes the config check and stays "auto" in the canonical text
// (resolved only when the model is loaded); a config without a template keeps tinychat's.
static void test_config_auto(void) {
    char path[] = "/tmp/test_chat_template_XXXXXX.cfg";
    int fd = mkstemps(path, 4);
    FILE *f = fdopen(fd, "w");
    fputs("task = \"t\";\ntasks = { t = { data = [\"a.jsonl\"]; target_label = 0; }; };\n", f);
    fclose(f);
    const char *auto_template[] = {"template=auto"};
    AreConfig c;
    char err[512] = "";
    int rc = are_config_load(path, auto_template, 1, &c, err, sizeof err);
    char *canonical = rc == 0 ? are_config_canonical(&c) : NULL;
    CHECK(canonical && !strcmp(c.template_text, "auto") &&
              strstr(canonical, "\ntemplate = \"auto\";\n"),
          "template = \"auto\": rc %d (%s), canonical text:\n%s", rc, err,
          canonical ? canonical : "");
    free(canonical);
    rc = are_config_load(path, NULL, 0, &c, err, sizeof err);
    CHECK(rc == 0 && !strcmp(c.template_text, "<|user|> {prompt}\n<|assistant|>"),
          "default template: '%s' (%s)", rc == 0 ? c.template_text : "", err);
    const char *misspelt[] = {"template=Auto"};
    rc = are_config_load(path, misspelt, 1, &c, err, sizeof err);
    CHECK(rc < 0 && strstr(err, "chat template \"Auto\" has no {prompt}"), "Auto: '%s'", err);
    unlink(path);
}

int main(void) {
    test_families();
    test_refused();
    test_zephyr_without_system();
    test_reading();
    test_config_auto();
    test_real_model("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2");
    const char *qwen = getenv("ARE_QWEN_GGUF");
    test_real_model(qwen ? qwen : "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "qwen2.5");
    return check_summary();
}
