/* queue_file.c - placeholder until implemented. */
typedef int queue_file_placeholder;
