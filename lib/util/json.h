/*
 * json.h - the one JSON writer of Postern.
 *
 * Everything Postern prints as JSON (postqueue -j and the showq service,
 * postroute -j, DNS results) is written here, so every output follows one
 * rule for text:
 *   - well-formed UTF-8 passes through unchanged (utf8.h);
 *   - '"' and '\\' are escaped, and so are control characters: \b \f \n
 *     \r \t by name, the others (and DEL) as \u00XX;
 *   - a byte that is not part of well-formed UTF-8 is written as \u00XX,
 *     its value taken as a code point (0x80..0xFF), so the output is always
 *     valid JSON, no byte is dropped, and a reader that wants the original
 *     bytes back can have them.
 * Hex digits are upper case ("\u001B").
 *
 * The writer appends to a strbuf and puts the commas and colons in:
 *
 *     struct json_writer w;
 *     json_init(&w, &sb);
 *     json_object_begin(&w);
 *     json_key(&w, "queue_id");  json_string(&w, id);
 *     json_key(&w, "size");      json_int(&w, size);
 *     json_object_end(&w);
 *
 * Nesting is bounded by JSON_DEPTH_MAX; going deeper, or ending what was
 * not begun, is a bug (msg_panic). A caller that streams large output
 * drains the strbuf between values (json_init again is not needed:
 * the writer only appends).
 *
 * Memory: the writer holds a pointer to the caller's strbuf and owns nothing.
 */
#ifndef POSTERN_JSON_H
#define POSTERN_JSON_H

#include <stddef.h>

struct strbuf;

#define JSON_DEPTH_MAX 32

struct json_writer {
    struct strbuf *out;
    int depth;
    unsigned char need_comma[JSON_DEPTH_MAX + 1];
    unsigned char after_key;
};

void json_init(struct json_writer *w, struct strbuf *out);

void json_object_begin(struct json_writer *w);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w);
void json_array_end(struct json_writer *w);
/* The key of the next member of the current object. */
void json_key(struct json_writer *w, const char *key);

/* Values. json_string(w, NULL) writes null. */
void json_string(struct json_writer *w, const char *text);
void json_string_len(struct json_writer *w, const char *text, size_t len);
void json_int(struct json_writer *w, long long value);
void json_uint(struct json_writer *w, unsigned long long value);
void json_double(struct json_writer *w, double value, int decimals);
void json_bool(struct json_writer *w, int value);
void json_null(struct json_writer *w);
/* An object member in one call: json_key() then the value. A NULL text is
 * null for json_member_string. */
void json_member_string(struct json_writer *w, const char *key, const char *text);
void json_member_int(struct json_writer *w, const char *key, long long value);
void json_member_uint(struct json_writer *w, const char *key, unsigned long long value);
void json_member_bool(struct json_writer *w, const char *key, int value);

/* A value that is already JSON text (for example from another writer). */
void json_raw(struct json_writer *w, const char *json_text);

/* Just the quoted string, by the rule above, appended to out. */
void json_quote(struct strbuf *out, const char *text, size_t len);

#endif
