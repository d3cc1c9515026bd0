/* dict_inline.c - placeholder until implemented. */
typedef int dict_inline_placeholder;
