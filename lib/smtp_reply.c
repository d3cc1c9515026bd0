/* smtp_reply.c - placeholder until implemented. */
typedef int smtp_reply_placeholder;
