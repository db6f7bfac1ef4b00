// Training a SentencePiece-style BPE vocabulary with byte fallback (the shape of Llama-2's) on
// a corpus, and saving it as a tokenizer.json that tokenizer_load_json reads back.
//
// The text is cut as the loader's encoder cuts it: at special tokens, then spaces become "▁"
// (and one "▁" goes before the text, unless it starts with a space), and every "▁" starts a
// word (a Metaspace pre-tokenizer with prepend_scheme "first" and split). The vocabulary is
//   the special tokens (unk, bos, eos, then the extra ones), the 256 byte tokens <0x00>..<0xFF>,
//   the characters of the corpus, most frequent first, and the merged tokens in merge order.
// Training repeatedly merges the most frequent pair of adjacent tokens within words (ties go
// to the smaller pair of ids) until the vocabulary is full or no pair occurs twice. Merges are
// written in training order, so that encoding a training word by merge rank reproduces the
// trainer's segmentation of it; characters left out of the vocabulary fall back to bytes.
#ifndef ARE_TOKENIZER_TRAIN_H
#define ARE_TOKENIZER_TRAIN_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    int vocab_size;              // tokens in all, special and byte tokens included
    const char *unk, *bos, *eos; // names; NULL for "<unk>", "<s>", "</s>"
    const char *const *specials; // extra special tokens (chat markers), matched whole in text
    int n_specials;
    FILE *progress; // where progress lines go; NULL for none
} TokenizerTrainOptions;

typedef struct TokenizerTrainer TokenizerTrainer;

// A trainer with no text yet. NULL on bad options (message in err) or out of memory.
TokenizerTrainer *tokenizer_trainer_new(const TokenizerTrainOptions *opt, char *err,
                                        size_t err_len);
void tokenizer_trainer_free(TokenizerTrainer *t);

// Counts the words of one text (a document: its start is the start of an encoded text).
// Returns 0, or -1 when out of memory or after training.
int tokenizer_trainer_add_text(TokenizerTrainer *t, const char *text, size_t len, char *err,
                               size_t err_len);

// Chooses the characters and learns the merges. Returns 0, or -1 with a message in err.
int tokenizer_trainer_train(TokenizerTrainer *t, char *err, size_t err_len);

// After training: the number of tokens (less than asked when the corpus ran out of pairs) and
// of merges.
int tokenizer_trainer_vocab_size(const TokenizerTrainer *t);
int tokenizer_trainer_merge_count(const TokenizerTrainer *t);

// After training: the ids of text as the trainer segmented its words, which must all have been
// seen in training. Writes at most max_ids ids and returns how many there are, or -1 when a
// word is unknown or memory runs out.
int tokenizer_trainer_encode(const TokenizerTrainer *t, const char *text, size_t len, int *ids,
                             int max_ids);

// After training: writes dir/tokenizer.json and dir/tokenizer_config.json (bos, eos, add_bos).
// The directory must exist. Returns 0, or -1 with a message in err.
int tokenizer_trainer_save(const TokenizerTrainer *t, const char *dir, char *err, size_t err_len);

#endif
