/* smtp_cmd.c - placeholder until implemented. */
typedef int smtp_cmd_placeholder;
