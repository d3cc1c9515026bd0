/* server.c - placeholder until implemented. */
typedef int server_placeholder;
