/* rewrite.c - placeholder until implemented. */
typedef int rewrite_placeholder;
