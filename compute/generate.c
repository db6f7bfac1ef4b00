// Batched generation: one packed prefill of every prompt into the KV cache, then decoding steps
// of one token per sequence still generating. Sequence i lives in cache slot i and samples from
// its own random stream, so its continuation does not depend on the rest of the batch.
#include "generate.h"

#include "llama_workspace.h"

#include <math.h>

static int check_generation(LlamaWorkspace *ws, const TokenBatch *prompts,
                            const GenerateOptions *opt) {
    const WorkspacePlan *plan = &ws->plan;
    int vocab = ws->model->cfg.vocab_size;
    if (!plan->outputs.logits)
        return llama_workspace_fail(ws, "generation needs a workspace planned with logits");
    if (prompts->n_seqs < 1 || prompts->n_seqs > plan->kv_slots)
        return llama_workspace_fail(ws, "%d prompts, the workspace's KV cache holds 1 .. %d",
                                    prompts->n_seqs, plan->kv_slots);
    if (opt->max_new_tokens < 0) return llama_workspace_fail(ws, "max_new_tokens is negative");
    if (!(opt->temperature >= 0) || !isfinite(opt->temperature))
        return llama_workspace_fail(ws, "temperature must be 0 (greedy) or positive");
    if (!(opt->top_p > 0 && opt->top_p <= 1))
        return llama_workspace_fail(ws, "top_p must be in (0, 1]");
    int T = 0;
    for (int s = 0; s < prompts->n_seqs; s++) {
        int len = prompts->seq_len[s];
        if (len < 1 || len > plan->max_seq_len - opt->max_new_tokens)
            return llama_workspace_fail(ws,
                                        "prompt %d has %d tokens: with %d new tokens the "
                                        "workspace holds prompts of 1 .. %d",
                                        s, len, opt->max_new_tokens,
                                        plan->max_seq_len - opt->max_new_tokens);
        if (len > plan->max_tokens - T)
            return llama_workspace_fail(ws,
                                        "the prompts have more than %d tokens, the "
                                        "workspace's max_tokens",
                                        plan->max_tokens);
        T += len;
    }
    for (int t = 0; t < T; t++)
        if (prompts->tokens[t] < 0 || prompts->tokens[t] >= vocab)
            return llama_workspace_fail(ws,
                                        "token %d of the prompts is %d, outside the "
                                        "vocabulary (%d tokens)",
                                        t, prompts->tokens[t], vocab);
    return 0;
}

// Appends one sampled token to each sequence in host_seqs[n_out], whose logits are the rows of
// the last step in that order. Greedy decoding takes the argmax on the backend, so that only
// n_out ints, not n_out rows of logits, come to the host (the same rule as sample_token's).
static void sample_step(LlamaWorkspace *ws, const GenerateOptions *opt, int n_out, int *out_tokens,
                        int *out_len) {
    Backend *be = ws->model->be;
    int vocab = ws->model->cfg.vocab_size;
    bool greedy = opt->temperature == 0;
    if (greedy) {
        be->argmax_rows(be, n_out, vocab, ws->logits, ws->greedy);
        be->to_host(be, ws->host_greedy, ws->greedy, (size_t)n_out * sizeof(int));
    } else {
        be->to_host(be, ws->host_logits, ws->logits, (size_t)n_out * vocab * sizeof(float));
    }
    for (int j = 0; j < n_out; j++) {
        int s = ws->host_seqs[j];
        int token = greedy
                        ? ws->host_greedy[j]
                        : sample_token(ws->host_logits + (size_t)j * vocab, vocab, opt->temperature,
                                       opt->top_p, &ws->rngs[s], ws->host_probs, ws->host_order);
        out_tokens[(size_t)s * opt->max_new_tokens + out_len[s]++] = token;
        if (opt->on_token) opt->on_token(opt->on_token_ctx, s, token);
    }
}

static bool is_stop(const GenerateOptions *opt, int token) {
    for (int i = 0; i < opt->n_stop; i++)
        if (opt->stop_tokens[i] == token) return true;
    return false;
}

int llama_generate(LlamaModel *m, LlamaWorkspace *ws, const TokenBatch *prompts,
                   const GenerateOptions *opt, int *out_tokens, int *out_len) {
    if (llama_workspace_check_model(ws, m) != 0 || check_generation(ws, prompts, opt) != 0)
        return -1;
    int n_seqs = prompts->n_seqs, max_new = opt->max_new_tokens;
    for (int s = 0; s < n_seqs; s++) {
        out_len[s] = 0;
        rng_seed(&ws->rngs[s], rng_derive(opt->seed, (uint64_t)s));
    }
    if (max_new == 0) return 0;

    // Prefill: every prompt at once; each sequence's last prompt token gives its first token.
    int T = 0;
    for (int s = 0; s < n_seqs; s++) {
        for (int i = 0; i < prompts->seq_len[s]; i++, T++) {
            ws->host_pos[T] = i;
            ws->host_slot[T] = s;
        }
        ws->host_rows[s] = T - 1;
        ws->host_seqs[s] = s;
    }
    llama_forward_cached(m, ws, prompts->tokens, T, n_seqs);
    sample_step(ws, opt, n_seqs, out_tokens, out_len);

    // Decoding: feed each unfinished sequence its newest token.
    for (;;) {
        int active = 0;
        for (int s = 0; s < n_seqs; s++) {
            int newest = out_tokens[(size_t)s * max_new + out_len[s] - 1];
            if (out_len[s] == max_new || is_stop(opt, newest)) continue;
            ws->host_tokens[active] = newest;
            ws->host_pos[active] = prompts->seq_len[s] + out_len[s] - 1;
            ws->host_slot[active] = s;
            ws->host_rows[active] = active;
            ws->host_seqs[active] = s;
            active++;
        }
        if (active == 0) return 0;
        llama_forward_cached(m, ws, ws->host_tokens, active, active);
        sample_step(ws, opt, active, out_tokens, out_len);
    }
}
