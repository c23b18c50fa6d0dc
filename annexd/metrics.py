"""The one Prometheus registry of annexd and every metric in it.

Names follow ``annexd_<noun>_<unit>[_total]``, base units (seconds, bytes), bounded label sets.
Each pipeline area has its own section; add metrics in the section of the area they measure.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# --- core ---------------------------------------------------------------------------------------------
ITEMS = Gauge("annexd_items", "Processing items by status", ["status"], registry=REGISTRY)
DB_POOL_CONNECTIONS = Gauge(
    "annexd_db_pool_connections", "Database connections by state", ["state"], registry=REGISTRY
)
DB_POOL_MAX = Gauge("annexd_db_pool_max_connections", "Configured database connection budget", registry=REGISTRY)
ACTOR_MAILBOX_DEPTH = Gauge("annexd_actor_mailbox_depth", "Messages waiting per actor", ["actor"], registry=REGISTRY)
ACTOR_RESTARTS = Counter("annexd_actor_restarts_total", "Actor restarts by the supervisor", ["actor"], registry=REGISTRY)
ACTOR_UP = Gauge("annexd_actor_up", "1 when the actor is running", ["actor"], registry=REGISTRY)
HEALTH_CHECK_OK = Gauge("annexd_health_check_ok", "1 when the health check's last result was ok (see /health)",
                        ["check"], registry=REGISTRY)
WRITER_RECEIVED = Counter(
    "annexd_writer_updates_received_total", "Updates received by the DB writer", registry=REGISTRY
)
WRITER_COALESCED = Counter(
    "annexd_writer_updates_coalesced_total",
    "Updates the DB writer merged into a later one or dropped under the threshold",
    registry=REGISTRY,
)
WRITER_ROWS = Counter("annexd_writer_rows_written_total", "Rows written by the DB writer", registry=REGISTRY)
WRITER_TRANSACTIONS = Counter(
    "annexd_writer_transactions_total", "Transactions committed by the DB writer", registry=REGISTRY
)
WRITER_FLUSH_ERRORS = Counter(
    "annexd_writer_flush_errors_total", "Flushes that failed and were kept for retry", registry=REGISTRY
)
WRITER_FLUSH_SECONDS = Histogram(
    "annexd_writer_flush_seconds", "Duration of one DB writer flush", registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WRITER_BACKLOG = Gauge("annexd_writer_backlog", "Updates waiting in the DB writer's batch", registry=REGISTRY)
HTTP_REQUESTS = Counter(
    "annexd_http_requests_total", "HTTP requests by route and status code", ["route", "code"], registry=REGISTRY
)
TRANSITIONS = Counter(
    "annexd_item_transitions_total", "Status transitions applied", ["to_status"], registry=REGISTRY
)
ITEMS_STRANDED = Gauge(
    "annexd_items_stranded",
    "Items the last reconcile found neither waiting nor owned by a live worker making progress (then repaired)",
    ["status"], registry=REGISTRY,
)
ITEMS_REPAIRED = Counter(
    "annexd_items_repaired_total", "Stranded items the reconciler returned to their last safe state", ["status"],
    registry=REGISTRY,
)
TRANSITION_CONFLICTS = Counter(
    "annexd_item_transition_conflicts_total",
    "Status writes refused because the item was no longer in the expected status",
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "annexd_stage_duration_seconds", "Time an item spent in a pipeline stage", ["stage"], registry=REGISTRY,
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600, 86400),
)
PROVIDER_CALLS = Counter(
    "annexd_provider_calls_total", "Calls to external services by provider kind and outcome",
    ["kind", "outcome"], registry=REGISTRY,
)
PROVIDER_UP = Gauge(
    "annexd_provider_up", "1 when a provider is usable, 0 while backed off or refused", ["kind", "name"],
    registry=REGISTRY,
)

# --- search -------------------------------------------------------------------------------------------
INDEXER_REQUESTS = Counter(
    "annexd_indexer_requests_total",
    "Torznab requests by indexer and outcome (ok, error, auth_error, rate_limited, timeout, malformed)",
    ["indexer", "outcome"], registry=REGISTRY,
)
INDEXER_REQUEST_SECONDS = Histogram(
    "annexd_indexer_request_seconds", "Duration of one Torznab request", ["indexer"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0),
)
INDEXER_RESULTS = Counter(
    "annexd_indexer_results_total", "Release items parsed from Torznab responses", ["indexer"], registry=REGISTRY
)
INDEXER_MALFORMED = Counter(
    "annexd_indexer_malformed_total",
    "Torznab responses (malformed or hostile XML) and items rejected as invalid", ["indexer"], registry=REGISTRY,
)
FEED_RELEASES = Counter(
    "annexd_feed_releases_total", "Releases read from a feed that were new since its last poll, by outcome "
    "(matched, alternative, rejected, blocklisted, unmatched)", ["feed", "outcome"], registry=REGISTRY,
)
FEED_POLLS = Counter(
    "annexd_feed_polls_total", "Feed polls by outcome (ok, gap: could not read back to the last poll, error)",
    ["feed", "outcome"], registry=REGISTRY,
)
FEED_LAST_POLL = Gauge(
    "annexd_feed_last_poll_timestamp_seconds", "When this daemon last polled the feed successfully (Unix time)",
    ["feed"], registry=REGISTRY,
)
SHOW_REFRESHES = Counter(
    "annexd_show_refreshes_total", "TMDB refreshes of followed shows by outcome (ok, error)", ["outcome"],
    registry=REGISTRY,
)
EPISODES_ANNOUNCED = Counter(
    "annexd_show_episodes_added_total", "Items added for newly announced episodes of followed shows",
    registry=REGISTRY,
)
IRC_CONNECTED = Gauge(
    "annexd_irc_connected", "1 while this daemon is connected to the IRC network and has joined its channels",
    ["network"], registry=REGISTRY,
)
IRC_LAST_ANNOUNCE = Gauge(
    "annexd_irc_last_announce_timestamp_seconds", "When this daemon last read a complete announce in the channel "
    "(Unix time)", ["network", "channel"], registry=REGISTRY,
)
IRC_ANNOUNCES_PARSED = Counter(
    "annexd_irc_announces_parsed_total", "Complete announces read from the network's channels", ["network"],
    registry=REGISTRY,
)
IRC_ANNOUNCES_MATCHED = Counter(
    "annexd_irc_announces_matched_total", "Announces whose release a wanted item's profile accepted", ["network"],
    registry=REGISTRY,
)
IRC_ANNOUNCES_GRABBED = Counter(
    "annexd_irc_announces_grabbed_total", "Announces that moved at least one item to FOUND (the DownloadWorker "
    "grabs it)", ["network"], registry=REGISTRY,
)
TMDB_REQUESTS = Counter(
    "annexd_tmdb_requests_total", "TMDB API requests by outcome (ok, cached, error, auth_error, rate_limited, "
    "not_found, malformed, timeout)", ["outcome"], registry=REGISTRY,
)

# --- download -----------------------------------------------------------------------------------------
QBT_REQUESTS = Counter(
    "annexd_qbittorrent_requests_total",
    "qBittorrent Web API requests by client, endpoint and outcome (ok, error, auth_error, unreachable, refused)",
    ["client", "endpoint", "outcome"], registry=REGISTRY,
)
DOWNLOAD_POLL_SECONDS = Histogram(
    "annexd_download_poll_seconds", "Duration of one download progress poll (sync/maindata + merge)",
    registry=REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TORRENTS_TRACKED = Gauge(
    "annexd_torrents_tracked", "annexd's torrents in the download client's current view", ["client"],
    registry=REGISTRY,
)
DOWNLOAD_CLIENT_UP = Gauge(
    "annexd_download_client_up", "1 when the download client answered its last request, 0 otherwise",
    ["client"], registry=REGISTRY,
)

# --- encode -------------------------------------------------------------------------------------------
ENCODER_AGENTS = Gauge("annexd_encoder_agents", "Encoder agents connected and registered", registry=REGISTRY)
ENCODER_SLOTS = Gauge(
    "annexd_encoder_slots", "Encode job slots of connected agents by state (busy, total)", ["state"],
    registry=REGISTRY,
)
ENCODER_AUTH_REFUSALS = Counter(
    "annexd_encoder_auth_refusals_total", "Encoder WebSocket handshakes refused (missing or invalid token)",
    ["reason"], registry=REGISTRY,
)
ENCODER_MESSAGES_REJECTED = Counter(
    "annexd_encoder_messages_rejected_total", "Agent messages rejected as invalid or about foreign jobs",
    registry=REGISTRY,
)
ENCODE_JOB_EVENTS = Counter(
    "annexd_encode_job_events_total",
    "Encode job events at the hub (assigned, accepted, refused, complete, failed, lost, reattached, cancelled, "
    "unassigned)",
    ["event"], registry=REGISTRY,
)
ENCODE_JOB_SECONDS = Histogram(
    "annexd_encode_job_seconds", "Encode duration reported by agents for completed jobs", registry=REGISTRY,
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 12 * 3600),
)

# --- delivery -----------------------------------------------------------------------------------------
DELIVERIES = Counter(
    "annexd_deliveries_total", "File deliveries by target and outcome (ok, skipped, conflict, error, unsafe)",
    ["target", "outcome"], registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "annexd_delivery_seconds", "Duration of one file delivery", ["target"], registry=REGISTRY,
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600),
)
DELIVERY_BYTES = Counter(
    "annexd_delivery_bytes_total", "Bytes transferred to a target by completed deliveries", ["target"],
    registry=REGISTRY,
)
MEDIA_SERVER_RESCANS = Counter(
    "annexd_media_server_rescans_total", "Media server rescan requests by server and outcome (ok, error, auth)",
    ["server", "outcome"], registry=REGISTRY,
)

# --- people: approvals and notifications ---------------------------------------------------------------
NOTIFICATIONS = Counter(
    "annexd_notifications_total",
    "Notification sends by destination and outcome (sent, retry: failed and tried again later, gave_up)",
    ["destination", "outcome"], registry=REGISTRY,
)
APPROVALS = Counter("annexd_approvals_total", "Approval decisions by action (approve, decline) and who (person, "
                    "timeout)", ["action", "by"], registry=REGISTRY)
