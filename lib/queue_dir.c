/* queue_dir.c - placeholder until implemented. */
typedef int queue_dir_placeholder;
