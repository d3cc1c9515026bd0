/* sock.c - placeholder until implemented. */
typedef int sock_placeholder;
