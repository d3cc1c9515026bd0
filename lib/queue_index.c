/* queue_index.c - placeholder until implemented. */
typedef int queue_index_placeholder;
