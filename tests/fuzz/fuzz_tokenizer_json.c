// libFuzzer harness for tokenizer.json loading and encoding: any bytes must load or be refused
// with a message, and a loaded tokenizer must encode and decode any text within bounds.
//
// Input: tokenizer.json text, then optionally a NUL byte and a text to encode (a fixed sample
// when there is none).
#include "tokenizer.h"
#include "tokenizer_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char sample[] = "Hello <s> world! It's 2024\n\t  naïve 🦙 <|endoftext|>\xff\xc3";

// A broken invariant is a finding: crash so that libFuzzer keeps the input.
static void require(bool ok) {
    if (!ok) abort();
}

static void exercise(const Tokenizer *tok, const char *text, size_t len) {
    enum { MAX_IDS = 4096 };
    static int ids[MAX_IDS];
    int n = tokenizer_encode(tok, text, len, false, ids, MAX_IDS);
    require(n >= 0 && tokenizer_encode(tok, text, len, false, NULL, 0) == n);
    if (n > MAX_IDS) n = MAX_IDS;
    for (int i = 0; i < n; i++) require(ids[i] >= 0 && ids[i] < tokenizer_vocab_size(tok));
    char out[256];
    int total = tokenizer_decode(tok, ids, n, out, sizeof(out));
    require(total >= 0 && strlen(out) == (size_t)(total < 255 ? total : 255));
    if (tokenizer_bos(tok) >= 0) require(tokenizer_encode(tok, text, len, true, ids, 1) == n + 1);
    for (int id = 0; id < tokenizer_vocab_size(tok) && id < 64; id++) {
        require(tokenizer_token_bytes(tok, id, out, sizeof(out)) >= 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *json = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : sample;
    size_t text_len = nul ? size - json_len - 1 : sizeof(sample) - 1;
    char err[512];
    Tokenizer *tok = tokenizer_load_json_text(json, json_len, "fuzz.json", err, sizeof(err));
    if (!tok) {
        require(err[0] != '\0');
        return 0;
    }
    exercise(tok, text, text_len);
    tokenizer_free(tok);
    return 0;
}
