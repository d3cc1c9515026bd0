/* smtp_data.c - placeholder until implemented. */
typedef int smtp_data_placeholder;
