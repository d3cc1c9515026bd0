/* dict.c - placeholder until implemented. */
typedef int dict_placeholder;
