// Next-token sampling on the host: greedy, or temperature with nucleus (top-p) truncation.
#include "generate.h"

#include <assert.h>
#include <math.h>

// Whether token a ranks before token b: more probable, or as probable and a lower id, so that
// the ranking (and every draw) is deterministic.
static bool ranks_before(const float *probs, int a, int b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
}

// Restores the heap order below heap[i] in a heap of n tokens that keeps the best on top.
static void sift_down(int *heap, int n, int i, const float *probs) {
    for (;;) {
        int best = i, left = 2 * i + 1, right = 2 * i + 2;
        if (left < n && ranks_before(probs, heap[left], heap[best])) best = left;
        if (right < n && ranks_before(probs, heap[right], heap[best])) best = right;
        if (best == i) return;
        int swap = heap[i];
        heap[i] = heap[best];
        heap[best] = swap;
        i = best;
    }
}

int sample_token(const float *logits, int vocab, float temperature, float top_p, Rng *rng,
                 float *probs, int *order) {
    assert(vocab > 0 && temperature >= 0 && top_p > 0 && top_p <= 1);
    int best = argmax_row(logits, vocab);
    if (temperature == 0) return best;

    // Unnormalised softmax(logits / temperature): the largest term is 1, so nothing overflows.
    double total = 0;
    for (int i = 0; i < vocab; i++) {
        probs[i] = (float)exp((double)(logits[i] - logits[best]) / temperature);
        total += probs[i];
    }

    // Nucleus: take tokens best first off a heap (heapsort stopped early, so a small top_p
    // costs little) until their mass reaches top_p. Each token taken moves to the end of
    // order: the kept ones are order[heap_size .. vocab-1], best last.
    for (int i = 0; i < vocab; i++) order[i] = i;
    for (int i = vocab / 2 - 1; i >= 0; i--) sift_down(order, vocab, i, probs);
    int heap_size = vocab;
    double kept = 0;
    while (heap_size > 0 && kept < top_p * total) {
        int top = order[0];
        order[0] = order[--heap_size];
        order[heap_size] = top;
        sift_down(order, heap_size, 0, probs);
        kept += probs[top];
    }

    // Draw from the kept tokens renormalised, adding them up in the order kept was summed.
    double u = rng_uniform(rng) * kept, sum = 0;
    for (int i = vocab - 1; i > heap_size; i--) {
        sum += probs[order[i]];
        if (u < sum) return order[i];
    }
    return order[heap_size];
}
