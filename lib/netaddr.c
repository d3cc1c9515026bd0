/* netaddr.c - placeholder until implemented. */
typedef int netaddr_placeholder;
