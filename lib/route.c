/* route.c - placeholder until implemented. */
typedef int route_placeholder;
