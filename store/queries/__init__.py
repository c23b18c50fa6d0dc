"""Named queries: the only place that reads and writes rows, so the status rules live in one place. HTTP
handlers, actors and the CLI call these operations by name (``queries.retry_item``, ``queries.accept_release``,
``queries.map_item_file``...) and make no ORM calls of their own (tests/store/test_no_orm_outside_store.py).

Every status write goes through :func:`apply_transition` (a compare-and-set against the expected status). One
module per topic; everything is re-exported here, so callers write ``from store import queries``. Not pure:
every function reads or writes the database bound to store.db.database_proxy, in the caller's connection.
"""

from store.queries.approvals import (
    approval_history,
    approval_state,
    approve,
    decline,
    expire_approvals,
    quota_usage,
    submit_as,
)
from store.queries.coordination import (
    CLAIMED,
    forget_instances,
    heartbeat,
    instances_on,
    load_provider_state,
    orphaned_claims,
    provider_states,
    record_task_run,
    save_provider_state,
)
from store.queries.deliveries import delivered_targets, deliveries_by_item, finish_delivery, start_delivery
from store.queries.downloads import (
    add_to_blocklist,
    attach_download,
    blocklisted_keys,
    claim_downloads,
    download_added,
    download_completed,
    download_failed,
    download_in_use,
    download_items,
    download_mapped,
    download_removed,
    downloads_in,
    downloads_only_for,
    get_download,
    get_or_create_download,
    ignore_files,
    map_item_file,
    reuse_download,
    torrent_vanished,
)
from store.queries.feeds import (
    claim_task,
    finish_task,
    keep_alternatives,
    monitored_requests,
    season_sizes,
    task_states,
    update_listing,
    wanted_items,
)
from store.queries.items import (
    accept_release,
    apply_transition,
    claim_items,
    due_retries,
    get_item,
    items_by_ids,
    items_by_status,
    record_encoded_file,
    retry_download_or_fail,
    retry_item,
    set_detail,
)
from store.queries.media_requests import (
    add_items,
    asked_by,
    cancel_request,
    create_request,
    delete_request,
    get_request,
    import_requests,
    list_requests,
    request_download_ids,
    request_episode_rows,
    request_items,
    request_row,
    request_summary,
)
from store.queries.notifications import (
    claim_notifications,
    fan_out,
    notification_counts,
    notification_deferred,
    notification_failed,
    notification_sent,
    prune_notifications,
    record_event,
    record_request_event,
)
from store.queries.progress import progress_baseline, write_progress
from store.queries.request_status import (
    computed_statuses,
    recompute_all,
    refresh_request_status,
    status_batch,
)
from store.queries.users import (
    add_user,
    adopt_config_key,
    any_key,
    caller_by_key,
    caller_by_name,
    disable_user,
    ensure_users,
    get_user,
    list_users,
    rotate_key,
    set_quota,
)

__all__ = [
    "CLAIMED", "accept_release", "add_items", "add_to_blocklist", "apply_transition", "attach_download",
    "blocklisted_keys", "cancel_request", "claim_downloads", "claim_items", "create_request", "delete_request",
    "delivered_targets", "deliveries_by_item", "download_added", "download_completed", "download_failed",
    "download_in_use", "download_items", "download_mapped", "download_removed", "downloads_in",
    "downloads_only_for", "due_retries", "finish_delivery", "forget_instances", "get_item",
    "get_download", "get_or_create_download", "get_request", "heartbeat", "ignore_files", "import_requests",
    "instances_on", "items_by_ids",
    "items_by_status", "list_requests", "load_provider_state", "map_item_file", "orphaned_claims",
    "progress_baseline", "provider_states", "record_encoded_file", "record_task_run", "request_download_ids",
    "request_items", "request_summary", "retry_download_or_fail", "retry_item", "reuse_download",
    "save_provider_state", "set_detail", "start_delivery", "torrent_vanished", "write_progress",
    # feeds and show monitoring
    "claim_task", "finish_task", "keep_alternatives", "monitored_requests", "season_sizes", "task_states",
    "update_listing", "wanted_items",
    "computed_statuses", "recompute_all", "refresh_request_status", "status_batch", "request_episode_rows",
    "request_row",
    # users, approvals, quotas, notifications
    "add_user", "adopt_config_key", "any_key", "approval_history", "approval_state", "approve", "asked_by",
    "caller_by_key", "caller_by_name", "claim_notifications", "decline", "disable_user", "ensure_users",
    "expire_approvals", "fan_out", "get_user", "list_users", "notification_counts", "notification_deferred", "notification_failed",
    "notification_sent", "prune_notifications", "quota_usage", "record_event", "record_request_event",
    "rotate_key", "set_quota", "submit_as",
]
