"""Themes: what customers talk about, fitted with BERTopic and kept as stable themes in the
store, curated by analysts (`admin`), read back for the pages (`queries`).

`refresh` runs a refresh as a job: `fit` (then `reconcile`, pure, decides which theme each
topic becomes) or `transform`; `pipeline` holds the steps, `persistence` the saved models,
`topics`, `near_duplicates`, `corpus` and `naming` the steps fit and transform share.
"""

from analysis.jobs import (
    HEARTBEAT_MAX_INTERVAL_S,
    JobAlreadyRunning,
    JobInterrupted,
    describe_job,
    job_status,
    wait_for_job,
)
from analysis.themes.fit import MIN_DOCUMENTS
from analysis.themes.naming import auto_name
from analysis.themes.persistence import LoadedModel, ModelUnavailable, load_active_model
from analysis.themes.pipeline import (
    BertopicEmbedder,
    Prefitted,
    ThemePipeline,
    default_min_cluster_size,
    default_retry_min_cluster_size,
    warm_up,
)
from analysis.themes.refresh import (
    JOB_KIND,
    refresh_themes,
    running_job,
    start_refresh_job,
    themed_share,
)
from analysis.themes.results import RefreshResult

# Models pickled before themes became a package name this class here; without it they
# could only be replaced by a refit. New models no longer pickle it (see `fit`).
_Prefitted = Prefitted

__all__ = [
    "HEARTBEAT_MAX_INTERVAL_S", "JOB_KIND", "MIN_DOCUMENTS", "BertopicEmbedder",
    "JobAlreadyRunning", "JobInterrupted", "LoadedModel", "ModelUnavailable", "RefreshResult",
    "ThemePipeline", "auto_name", "default_min_cluster_size", "default_retry_min_cluster_size",
    "describe_job", "job_status", "load_active_model", "refresh_themes", "running_job",
    "start_refresh_job", "themed_share", "wait_for_job", "warm_up",
]
