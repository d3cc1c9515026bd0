/* dns.c - placeholder until implemented. */
typedef int dns_placeholder;
