/* dict_pcre.c - placeholder until implemented. */
typedef int dict_pcre_placeholder;
