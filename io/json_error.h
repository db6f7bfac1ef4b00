// Messages about JSON files (config.json, tokenizer.json, adapter_config.json, shard indexes),
// worded the same whichever reader found the problem.
#ifndef ARE_JSON_ERROR_H
#define ARE_JSON_ERROR_H

#include <jansson.h>
#include <stddef.h>

// "an object", "an integer", ...: what a value is, for "expected X, got Y"; "nothing" for NULL.
const char *json_type_name(const json_t *value);

// Why jansson could not load the file name: "name:line:column: malformed JSON: what", or
// "name: what" when there is no position (the file could not be read). Returns -1.
int json_load_error(char *err, size_t err_len, const char *name, const json_error_t *jerr);

#endif
