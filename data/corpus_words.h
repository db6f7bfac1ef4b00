// The vocabulary of the tinychat corpus: request phrasings, harmful categories, harmless topics,
// role-play wrappers, answer openers and the closed world of facts. corpus.c combines them.
#ifndef ARE_CORPUS_WORDS_H
#define ARE_CORPUS_WORDS_H

#include <stddef.h>

#define HARM_TASKS_PER_CATEGORY 8
#define HELP_TASKS_PER_TOPIC    7
#define FACT_QUESTIONS          5
#define FACT_ANSWERS            3

typedef struct {
    const char *reason; // why a refusal refuses, one sentence
    const char *tasks[HARM_TASKS_PER_CATEGORY];
} HarmCategory;

typedef struct {
    const char *task; // a verb phrase that completes "How do I ..."
    const char *tip;  // one or two sentences that really answer it
} HelpTask;

typedef struct {
    const char *advice; // a closing sentence that fits every task of the topic
    HelpTask tasks[HELP_TASKS_PER_TOPIC];
} HelpTopic;

// Questions and answers about one attribute: {e} is the entity, {v} the value, {a} "a" or "an"
// for the value. Every answer ends with "{v}." so that the value stated is the last word.
typedef struct {
    const char *questions[FACT_QUESTIONS];
    const char *answers[FACT_ANSWERS];
} Attribute;

typedef struct {
    int attribute; // index into attributes[]
    const char *entity;
    const char *value;
} Fact;

extern const char *const request_templates[]; // each has one {task}
extern const size_t n_request_templates;
typedef struct {
    const char *text;   // the framing, with one {request}
    const char *opener; // the in-character first sentence of a reply
} Wrapper;
extern const Wrapper wrappers[];
extern const size_t n_wrappers;
extern const HarmCategory harm_categories[];
extern const size_t n_harm_categories;
extern const HelpTopic help_topics[];
extern const size_t n_help_topics;
extern const char *const refusal_openers[]; // each starts with "I" or "Sorry"
extern const size_t n_refusal_openers;
extern const char *const refusal_closers[];
extern const size_t n_refusal_closers;
extern const char *const helpful_openers[]; // each starts with "Sure" or "Here"
extern const size_t n_helpful_openers;
extern const char *const helpful_closers[];
extern const size_t n_helpful_closers;
extern const Attribute attributes[];
extern const size_t n_attributes;
extern const Fact facts[];
extern const size_t n_facts;

#endif
