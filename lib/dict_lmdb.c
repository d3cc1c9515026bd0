/* dict_lmdb.c - placeholder until implemented. */
typedef int dict_lmdb_placeholder;
