/*
 * params.h - the values of every main.cf parameter (declared in params.c).
 *
 * Strings are owned by config.c; numbers are longs (TIME in seconds,
 * BOOL as 0/1). Read them only after config_load() succeeded.
 */
#ifndef POSTERN_PARAMS_H
#define POSTERN_PARAMS_H

/* Paths and identity */
extern char *var_config_dir;
extern char *var_daemon_dir;
extern char *var_command_dir;
extern char *var_queue_dir;
extern char *var_data_dir;
extern char *var_mail_owner;
extern char *var_syslog_name;
extern char *var_syslog_facility;
extern char *var_maillog_file;
extern char *var_mail_name;
extern char *var_myhostname;
extern char *var_mydomain;
extern char *var_myorigin;

/* Process management */
extern long var_max_idle;
extern long var_max_use;
extern long var_process_session_limit;
extern long var_default_process_limit;
extern long var_service_throttle_time;
extern long var_shutdown_timeout;
extern long var_ipc_timeout;
extern long var_queue_index_map_size;
extern char *var_authorized_mailq_users;

/* smtpd */
extern char *var_smtpd_banner;
extern long var_smtpd_timeout;
extern long var_smtpd_recipient_limit;
extern long var_message_size_limit;
extern long var_smtpd_line_limit;
extern char *var_mynetworks;
extern char *var_relay_domains;
extern long var_smtpd_hard_error_limit;
extern long var_header_size_limit;

/* qmgr */
extern long var_minimal_backoff_time;
extern long var_maximal_backoff_time;
extern long var_queue_run_delay;
extern long var_maximal_queue_lifetime;
extern long var_qmgr_message_active_limit;
extern long var_default_destination_concurrency_limit;
extern long var_qmgr_delivery_concurrency;

/* smtp */
extern char *var_relayhost;
extern char *var_smtp_helo_name;
extern long var_smtp_connect_timeout;
extern long var_smtp_helo_timeout;
extern long var_smtp_mail_timeout;
extern long var_smtp_rcpt_timeout;
extern long var_smtp_data_init_timeout;
extern long var_smtp_data_xfer_timeout;
extern long var_smtp_data_done_timeout;
extern long var_smtp_quit_timeout;
extern long var_smtp_connection_cache_time_limit;
extern long var_smtp_connection_reuse_time_limit;


/* Lookup tables, rewriting and routing */
extern char *var_transport_maps;
extern char *var_sender_dependent_relayhost_maps;
extern char *var_virtual_alias_maps;
extern char *var_sender_canonical_maps;
extern char *var_recipient_canonical_maps;
extern char *var_parent_domain_matches_subdomains;
extern char *var_recipient_delimiter;
extern char *var_dns_servers;
extern long var_dns_timeout;
extern long var_dns_tries;
extern char *var_proxy_interfaces;
extern long var_virtual_alias_expansion_limit;
extern long var_virtual_alias_recursion_limit;

#endif
