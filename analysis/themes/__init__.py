"""Themes: what customers talk about, fitted with BERTopic and kept as stable themes in the
store (`engine`), curated by analysts (`admin`), read back for the pages (`queries`).
"""

from analysis.themes.engine import (
    HEARTBEAT_MAX_INTERVAL_S,
    JOB_KIND,
    MIN_DOCUMENTS,
    BertopicEmbedder,
    JobAlreadyRunning,
    JobInterrupted,
    LoadedModel,
    ModelUnavailable,
    RefreshResult,
    ThemePipeline,
    auto_name,
    default_min_cluster_size,
    describe_job,
    job_status,
    load_active_model,
    refresh_themes,
    running_job,
    start_refresh_job,
    themed_share,
    wait_for_job,
    warm_up,
)

__all__ = [
    "HEARTBEAT_MAX_INTERVAL_S", "JOB_KIND", "MIN_DOCUMENTS", "BertopicEmbedder",
    "JobAlreadyRunning", "JobInterrupted", "LoadedModel", "ModelUnavailable", "RefreshResult",
    "ThemePipeline", "auto_name", "default_min_cluster_size", "describe_job", "job_status",
    "load_active_model", "refresh_themes", "running_job", "start_refresh_job", "themed_share",
    "wait_for_job", "warm_up",
]
