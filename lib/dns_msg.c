/* dns_msg.c - placeholder until implemented. */
typedef int dns_msg_placeholder;
