/*
 * params.c - the one table of main.cf parameters (see config.h).
 *
 * Each row declares a parameter once: name, kind, default, bounds, storage
 * and a one-line description. config.c parses against this table; the
 * configuration reference in docs/configuration.md follows it row for row.
 * Names and defaults follow Postfix where Postern does the same thing.
 */
#include <limits.h>
#include <stddef.h>

#include "config.h"
#include "params.h"
#include "postern_paths.h"

char *var_config_dir;
char *var_daemon_dir;
char *var_command_dir;
char *var_queue_dir;
char *var_data_dir;
char *var_mail_owner;
char *var_syslog_name;
char *var_syslog_facility;
char *var_maillog_file;
char *var_mail_name;
char *var_myhostname;
char *var_mydomain;
char *var_myorigin;

long var_max_idle;
long var_max_use;
long var_process_session_limit;
long var_default_process_limit;
long var_service_throttle_time;
long var_shutdown_timeout;
long var_ipc_timeout;
long var_queue_index_map_size;
char *var_authorized_mailq_users;

char *var_smtpd_banner;
long var_smtpd_timeout;
long var_smtpd_recipient_limit;
long var_message_size_limit;
long var_smtpd_line_limit;
char *var_mynetworks;
char *var_relay_domains;
long var_smtpd_hard_error_limit;
long var_header_size_limit;

long var_minimal_backoff_time;
long var_maximal_backoff_time;
long var_queue_run_delay;
long var_maximal_queue_lifetime;
long var_qmgr_message_active_limit;
long var_default_destination_concurrency_limit;
long var_qmgr_delivery_concurrency;

char *var_relayhost;
char *var_smtp_helo_name;
long var_smtp_connect_timeout;
long var_smtp_helo_timeout;
long var_smtp_mail_timeout;
long var_smtp_rcpt_timeout;
long var_smtp_data_init_timeout;
long var_smtp_data_xfer_timeout;
long var_smtp_data_done_timeout;
long var_smtp_quit_timeout;
long var_smtp_connection_cache_time_limit;
long var_smtp_connection_reuse_time_limit;

char *var_transport_maps;
char *var_sender_dependent_relayhost_maps;
char *var_virtual_alias_maps;
char *var_sender_canonical_maps;
char *var_recipient_canonical_maps;
char *var_parent_domain_matches_subdomains;
char *var_recipient_delimiter;
char *var_dns_servers;
long var_dns_timeout;
long var_dns_tries;
char *var_proxy_interfaces;
long var_virtual_alias_expansion_limit;
long var_virtual_alias_recursion_limit;

#define STR(n, d, v, doc)            { n, PARAM_STR, d, 0, 0, 0, &v, doc }
#define NUM(n, d, lo, hi, v, doc)    { n, PARAM_INT, d, lo, hi, 0, &v, doc }
#define TIME(n, d, u, lo, hi, v, doc) { n, PARAM_TIME, d, lo, hi, u, &v, doc }
#define SIZE(n, d, lo, hi, v, doc)   { n, PARAM_SIZE, d, lo, hi, 0, &v, doc }

const struct param_def param_table[] = {
    /* Paths and identity */
    STR("config_directory", DEF_CONFIG_DIR, var_config_dir,
        "Directory holding main.cf and master.cf (set by -c or MAIL_CONFIG)."),
    STR("daemon_directory", DEF_DAEMON_DIR, var_daemon_dir,
        "Directory holding the daemon programs that master starts."),
    STR("command_directory", DEF_COMMAND_DIR, var_command_dir,
        "Directory holding the operator commands (postqueue, postsuper, postcat)."),
    STR("queue_directory", DEF_QUEUE_DIR, var_queue_dir,
        "The instance's queue: message files, private/ and public/ sockets, pid/ lock."),
    STR("data_directory", DEF_DATA_DIR, var_data_dir,
        "Directory for state that is not mail (caches)."),
    STR("mail_owner", "postern", var_mail_owner,
        "Unprivileged account that every daemon runs as when master starts as root; root is refused."),
    STR("syslog_name", "postern", var_syslog_name,
        "Prefix of every log tag (\"postern/smtpd\"); give each instance its own."),
    STR("syslog_facility", "mail", var_syslog_facility,
        "Syslog facility: mail, daemon, user, local0 .. local7."),
    STR("maillog_file", "", var_maillog_file,
        "Empty: log to syslog. /dev/stderr: log to standard error. A path: append one line per event to that file."),
    STR("mail_name", "Postern", var_mail_name,
        "The product name used in the SMTP banner and Received: headers."),
    STR("myhostname", "", var_myhostname,
        "This host's fully qualified name; empty means the system's host name."),
    STR("mydomain", "", var_mydomain,
        "This host's domain; empty means $myhostname less its first label."),
    STR("myorigin", "$myhostname", var_myorigin,
        "Domain used in Message-ID: headers that cleanup adds."),

    /* Process management */
    TIME("max_idle", "100s", 's', 1, 86400, var_max_idle,
         "A daemon with no client for this long exits (master starts another on demand)."),
    NUM("max_use", "100", 1, INT_MAX, var_max_use,
        "A daemon exits once it has served this many clients and is idle."),
    NUM("process_session_limit", "100", 1, 100000, var_process_session_limit,
        "Concurrent clients one daemon process serves before it reports itself busy to master."),
    NUM("default_process_limit", "100", 1, 10000, var_default_process_limit,
        "Process limit of a master.cf service whose maxproc column is '-'."),
    TIME("service_throttle_time", "60s", 's', 1, 3600, var_service_throttle_time,
         "Longest back-off before master restarts a service whose processes keep dying."),
    TIME("shutdown_timeout", "10s", 's', 1, 3600, var_shutdown_timeout,
         "On SIGTERM or reload, how long daemons may finish in-flight work before they are killed."),
    TIME("ipc_timeout", "3600s", 's', 1, 86400, var_ipc_timeout,
         "Time limit for one exchange between daemons over a UNIX socket."),
    SIZE("queue_index_map_size", "17179869184", 1048576, LONG_MAX / 2, var_queue_index_map_size,
         "Largest size of the queue index (LMDB map; address space, not disk)."),
    STR("authorized_mailq_users", "static:anyone", var_authorized_mailq_users,
        "Who may list the queue: static:anyone, or user names (root and mail_owner always may)."),

    /* smtpd */
    STR("smtpd_banner", "$myhostname ESMTP $mail_name", var_smtpd_banner,
        "Text after \"220 \" in the SMTP greeting."),
    TIME("smtpd_timeout", "300s", 's', 1, 86400, var_smtpd_timeout,
         "How long smtpd waits for a client command or data before it ends the session (421 4.4.2)."),
    NUM("smtpd_recipient_limit", "1000", 1, 1000000, var_smtpd_recipient_limit,
        "Recipients accepted per message; the next gets 452 4.5.3."),
    SIZE("message_size_limit", "10240000", 1024, LONG_MAX / 2, var_message_size_limit,
         "Largest message accepted, in bytes (552 5.3.4); advertised with SIZE."),
    NUM("smtpd_line_limit", "2048", 512, 65536, var_smtpd_line_limit,
        "Longest SMTP command line accepted, in bytes including CRLF (500 5.5.2)."),
    STR("mynetworks", "127.0.0.0/8 [::1]/128", var_mynetworks,
        "Clients allowed to relay anywhere: addresses and networks (1.2.3.0/24, [2001:db8::]/32; no host bits past the prefix) or tables, separated by commas or spaces."),
    STR("relay_domains", "", var_relay_domains,
        "Recipient domains accepted from any client: names or tables; subdomains too when parent_domain_matches_subdomains lists relay_domains (the default)."),
    NUM("smtpd_hard_error_limit", "20", 1, 1000, var_smtpd_hard_error_limit,
        "Errors in one session after which smtpd says 421 and disconnects."),
    SIZE("header_size_limit", "102400", 1024, 10485760, var_header_size_limit,
         "How much of the header block cleanup examines for Message-ID:, Date: and From:."),

    /* qmgr */
    TIME("minimal_backoff_time", "300s", 's', 1, 86400 * 7, var_minimal_backoff_time,
         "Least time between delivery attempts of a deferred message."),
    TIME("maximal_backoff_time", "4000s", 's', 1, 86400 * 30, var_maximal_backoff_time,
         "Most time between delivery attempts of a deferred message."),
    TIME("queue_run_delay", "300s", 's', 1, 86400, var_queue_run_delay,
         "How often qmgr scans incoming/ and deferred/ for mail due for delivery."),
    TIME("maximal_queue_lifetime", "5d", 'd', 0, 86400 * 100, var_maximal_queue_lifetime,
         "A message still undeliverable after this long is returned as bounced."),
    NUM("qmgr_message_active_limit", "20000", 1, 10000000, var_qmgr_message_active_limit,
        "Most messages qmgr keeps in active/ at once."),
    NUM("default_destination_concurrency_limit", "20", 1, 1000,
        var_default_destination_concurrency_limit,
        "Most concurrent deliveries to one next hop."),
    NUM("qmgr_delivery_concurrency", "100", 1, 10000, var_qmgr_delivery_concurrency,
        "Most concurrent deliveries in total."),

    /* smtp */
    STR("relayhost", "", var_relayhost,
        "Next hop for all mail: [host]:port or [address]:port (brackets: no MX lookup)."),
    STR("smtp_helo_name", "$myhostname", var_smtp_helo_name,
        "Name the SMTP client sends in EHLO/HELO."),
    TIME("smtp_connect_timeout", "30s", 's', 1, 3600, var_smtp_connect_timeout,
         "Time limit for the SMTP client to connect."),
    TIME("smtp_helo_timeout", "300s", 's', 1, 3600, var_smtp_helo_timeout,
         "Time limit for the greeting and the EHLO/HELO reply."),
    TIME("smtp_mail_timeout", "300s", 's', 1, 3600, var_smtp_mail_timeout,
         "Time limit for the reply to MAIL FROM."),
    TIME("smtp_rcpt_timeout", "300s", 's', 1, 3600, var_smtp_rcpt_timeout,
         "Time limit for the reply to RCPT TO."),
    TIME("smtp_data_init_timeout", "120s", 's', 1, 3600, var_smtp_data_init_timeout,
         "Time limit for the reply to DATA."),
    TIME("smtp_data_xfer_timeout", "180s", 's', 1, 3600, var_smtp_data_xfer_timeout,
         "Time limit for sending message content (per write that makes no progress)."),
    TIME("smtp_data_done_timeout", "600s", 's', 1, 7200, var_smtp_data_done_timeout,
         "Time limit for the reply to the final '.'."),
    TIME("smtp_quit_timeout", "300s", 's', 1, 3600, var_smtp_quit_timeout,
         "Time limit for the reply to QUIT."),
    TIME("smtp_connection_cache_time_limit", "2s", 's', 0, 3600,
         var_smtp_connection_cache_time_limit,
         "How long an idle SMTP connection is kept open for the next message to the same next hop."),
    TIME("smtp_connection_reuse_time_limit", "300s", 's', 1, 86400,
         var_smtp_connection_reuse_time_limit,
         "An SMTP connection older than this is not reused."),

    /* Lookup tables, rewriting and routing */
    STR("transport_maps", "", var_transport_maps,
        "Tables (type:name, comma separated) mapping a recipient domain to transport:nexthop (smtp:[host]:port, smtp:host, error:5.x.x text, discard:, hold:)."),
    STR("sender_dependent_relayhost_maps", "", var_sender_dependent_relayhost_maps,
        "Tables mapping a sender address or @domain to a relay host, used instead of relayhost."),
    STR("virtual_alias_maps", "", var_virtual_alias_maps,
        "Tables rewriting a recipient to one or more addresses (comma separated), or a whole domain (@domain)."),
    STR("sender_canonical_maps", "", var_sender_canonical_maps,
        "Tables rewriting the envelope sender address."),
    STR("recipient_canonical_maps", "", var_recipient_canonical_maps,
        "Tables rewriting envelope recipient addresses (one to one)."),
    STR("parent_domain_matches_subdomains",
        "debug_peer_list, fast_flush_domains, mynetworks, permit_mbox_mail_if_found, relay_domains, smtpd_access_maps",
        var_parent_domain_matches_subdomains,
        "Features where a table key example.com also matches sub.example.com (else only .example.com does)."),
    STR("recipient_delimiter", "", var_recipient_delimiter,
        "Characters that separate a user name from an address extension (user+ext@domain)."),
    STR("dns_servers", "", var_dns_servers,
        "DNS servers to ask (host:port, comma separated); empty: the ones in /etc/resolv.conf."),
    TIME("dns_timeout", "2s", 's', 1, 60, var_dns_timeout,
         "Time limit for one DNS query to one server."),
    NUM("dns_tries", "2", 1, 10, var_dns_tries,
        "Times each DNS server is asked before the next is tried."),
    STR("proxy_interfaces", "", var_proxy_interfaces,
        "Addresses that reach this host through a proxy or NAT (besides its own interfaces): mail whose next hop resolves to one of them loops back and is not sent."),
    NUM("virtual_alias_expansion_limit", "1000", 1, 100000, var_virtual_alias_expansion_limit,
        "Most recipients one recipient may expand to through virtual_alias_maps."),
    NUM("virtual_alias_recursion_limit", "1000", 1, 10000, var_virtual_alias_recursion_limit,
        "Deepest nesting of virtual_alias_maps expansion."),
};

const size_t param_table_len = sizeof(param_table) / sizeof(param_table[0]);
