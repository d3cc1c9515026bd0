/* master_cf.c - placeholder until implemented. */
typedef int master_cf_placeholder;
