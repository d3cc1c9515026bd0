/* dict_cidr.c - placeholder until implemented. */
typedef int dict_cidr_placeholder;
