"""Named queries: the only place that reads and writes rows, so the status rules live in one place. HTTP
handlers, actors and the CLI call these operations by name (``queries.retry_item``, ``queries.accept_release``,
``queries.map_item_file``...) and make no ORM calls of their own (tests/store/test_no_orm_outside_store.py).

Every status write goes through :func:`apply_transition` (a compare-and-set against the expected status). One
module per topic; everything is re-exported here, so callers write ``from store import queries``. Not pure:
every function reads or writes the database bound to store.db.database_proxy, in the caller's connection.
"""

from store.db import write_transaction as atomically
from store.queries.approvals import (
    approval_history,
    approval_state,
    approve,
    decline,
    expire_approvals,
    quota_usage,
    submit_as,
)
from store.queries.claims import (
    adopt_claims,
    beat_claims,
    claim_states,
    claimed_by,
    live_instances,
    release_claim,
    release_stale_incarnations,
    remap_download_of,
)
from store.queries.coordination import (
    forget_instances,
    heartbeat,
    hold_task,
    instance_live,
    instances_on,
    load_provider_state,
    provider_states,
    record_task_run,
    release_task,
    save_provider_state,
)
from store.queries.deliveries import (
    beat_deliveries,
    claim_deliveries,
    delivered_targets,
    deliveries_by_item,
    delivering_group,
    file_still_needed,
    finish_delivery,
    leftover_temp_files,
    pending_transfers,
    start_delivery,
    start_transfer,
    temp_files_removed,
    transfer_progress,
)
from store.queries.downloads import (
    add_to_blocklist,
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
    grab,
    ignore_files,
    map_item_file,
    reuse_download,
    torrent_vanished,
)
from store.queries.encode_jobs import (
    PlannedJob,
    abandon_jobs_of,
    beat_encodes,
    claim_encodes,
    complete_without_jobs,
    job_assigned,
    job_by_key,
    job_done,
    job_failed,
    job_progress,
    jobs_of_items,
    open_jobs,
    owned_open_job,
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
    wanted_request_titles,
)
from store.queries.items import (
    accept_release,
    apply_transition,
    claim_items,
    due_items,
    due_retries,
    get_item,
    grab_later,
    items_by_ids,
    items_by_status,
    record_encoded_file,
    retry_download_or_fail,
    retry_item,
    set_detail,
)
from store.queries.legacy_import import (
    RequestOutcome,
    adopt_requests,
    download_hashes,
    import_items,
    legacy_request_index,
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
    request_for_title,
    request_items,
    request_row,
    request_summary,
    submit_request,
)
from store.queries.notifications import (
    claim_notifications,
    fan_out,
    item_stranded,
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
    "abandon_jobs_of", "accept_release", "add_items", "add_to_blocklist", "add_user", "adopt_claims",
    "adopt_config_key", "any_key", "apply_transition", "approval_history", "approval_state", "approve", "asked_by",
    "atomically", "beat_claims", "beat_deliveries", "beat_encodes", "blocklisted_keys", "caller_by_key",
    "caller_by_name", "cancel_request", "claim_deliveries", "claim_downloads", "claim_encodes", "claim_items",
    "claim_notifications", "claim_states", "claim_task", "claimed_by", "complete_without_jobs", "computed_statuses",
    "create_request", "decline", "delete_request", "delivered_targets", "deliveries_by_item", "delivering_group",
    "disable_user", "download_added", "download_completed", "download_failed", "download_in_use", "download_items",
    "download_mapped", "download_removed", "downloads_in", "downloads_only_for", "due_items", "due_retries",
    "ensure_users", "expire_approvals", "fan_out", "file_still_needed", "finish_delivery", "finish_task",
    "forget_instances", "get_download", "get_item", "get_or_create_download", "get_request", "get_user", "grab",
    "grab_later", "heartbeat", "hold_task", "ignore_files", "import_requests", "instance_live", "instances_on",
    "item_stranded", "items_by_ids", "items_by_status", "job_assigned", "job_by_key", "job_done", "job_failed", "job_progress",
    "jobs_of_items", "keep_alternatives", "leftover_temp_files", "list_requests", "list_users", "live_instances",
    "load_provider_state", "map_item_file", "monitored_requests", "notification_counts", "notification_deferred",
    "notification_failed", "notification_sent", "open_jobs", "owned_open_job", "pending_transfers", "PlannedJob",
    "progress_baseline", "provider_states", "prune_notifications", "quota_usage", "recompute_all",
    "record_encoded_file", "record_event", "record_request_event", "record_task_run", "refresh_request_status",
    "release_claim", "release_stale_incarnations", "release_task", "remap_download_of", "request_download_ids",
    "request_episode_rows", "request_for_title", "request_items", "request_row", "request_summary",
    "retry_download_or_fail", "retry_item", "reuse_download", "rotate_key", "save_provider_state", "season_sizes",
    "set_detail", "set_quota", "start_delivery", "start_transfer", "status_batch", "submit_as", "submit_request",
    "task_states", "temp_files_removed", "torrent_vanished", "transfer_progress", "update_listing", "wanted_items",
    "wanted_request_titles", "write_progress",
    # the legacy importer (issue 15)
    "RequestOutcome", "adopt_requests", "download_hashes", "import_items", "legacy_request_index",
]
