"""Numba's compile of UMAP and NN-descent, paid once per machine instead of once per process.

    from analysis.themes import compiling
    compiling.enable_disk_cache()          # after prepare_offline_environment, before a fit
    if compiling.compile_pending(n):       # cheap: reads cache index files, compiles nothing
        report(0.5, compiling.COMPILE_MESSAGE)

Why. UMAP and pynndescent (NN-descent, which UMAP uses from 4,096 rows) are numba code that a
process compiles on first use. NUMBA_CACHE_DIR (`prepare_offline_environment`) only serves
functions declared `cache=True`, and of the 427 module-level dispatchers of umap 0.5.12 and
pynndescent 0.7.0, 253 are not: NN-descent itself (`nn_descent`, `init_rp_tree`,
`init_random`, `process_candidates`, `generate_leaf_updates`, the graph-update kernels),
UMAP's `smooth_knn_dist`, `compute_membership_strengths` and its layout epoch among them.
HDBSCAN 0.8.44 is Cython: 0.2 s, no numba. `bench/compile_cache.py` on this shared 2-core
machine (load 3-4), each process fresh, sharing a NUMBA_CACHE_DIR empty at first; a fit is
UMAP 5-D cosine on 5,000 384-D vectors, transform of 20, HDBSCAN + approximate_predict and
the 2-D map UMAP, as the app runs them:

    before   process 1: fit 119 s (107 s compiling);  process 2: fit 49 s, 38 s compiling,
             104 compiles
    after    process 1: fit 122 s (110 s compiling);  process 2: fit 12 s, 0 s compiling,
             0 compiles, 39 loads; the same numbers out, with or without this module

Four causes, each handled here:
1. No disk cache on most dispatchers: `enable_disk_cache` installs numba's `FunctionCache`
   (what `cache=True` installs) on each one that has none, before anything compiles. A
   caller loaded from the cache carries its callees' machine code, so numba's own
   `@overload` helpers (np.empty, min, ...) stop compiling too.
2. Entries no later process can find: NN-descent passes its distance as an argument
   (`dist=alternative_dot`), so that dispatcher's type is part of the signature in the
   cache key. numba pickles a dispatcher by a uuid drawn at random per process and unpickles
   an unknown uuid as a new dispatcher, unequal to the live one, so such keys never match
   again, even for pynndescent's own `cache=True` functions. Each module-level dispatcher
   gets a uuid made of its module, name, line and options instead, so unpickling finds the
   live one. This also makes a saved UMAP's dispatchers unpickle as the live, cached ones:
   a model loaded in a fresh process transformed 20 rows in 0.4 s, against 12.9 s (11.3 s
   compiling) without.
3. Two dispatchers of one function with different options (umap.layouts wraps its layout
   epoch with parallel=False and parallel=True) would share one index file and one key:
   numba keys on signature, CPU and bytecode, not options. Each gets its options in its key,
   so neither loads the other's machine code.
4. `nn_descent` and `nn_descent_internal` call `numba.get_num_threads()`, which numba 0.68
   compiles as a call through a ctypes pointer, an address numba refuses to write to disk
   ("dynamic globals"): they compiled in every process, ~7 s per distance, and the app's
   fit uses two (cosine for the 5-D UMAP, euclidean for the 2-D map). Their callees would
   not help: numba links callees in as bitcode and generates code for the whole tree.
   `_make_thread_count_cacheable` routes those calls through the C symbol numba's own
   parallel loops call (cacheable, and numba reloads the threading layer before loading
   code that needs it). This one changes numba's behaviour, not just its cache: see there.

Not touched: closures (a factory's inner function: numba keys them on their cell contents,
and a cell holding a dispatcher pickles differently per process, so each process would add
an entry no later one finds, growing the index forever), functions without a source file,
and dispatchers compiled from explicit signatures as they are imported (`umap.utils.tau_rand`,
0.4 s): that happens before this can run. Functions built at run time (pynndescent's
wrappers for metrics with arguments, UMAP's non-euclidean or densMAP layouts) are not reached
either; the app's pipeline does not use them. A function numba still finds uncacheable when
it saves is left uncached without numba's warning in every process.

Entries are valid for this numba version, this Python, this CPU (name and feature flags: a
cache copied to another machine is ignored, not misused) and the library source (hashed); on
any change numba compiles once more and rewrites them. parallel=True functions cache like the
others.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

COMPILE_MESSAGE = "compiling the clustering code once for this machine (about a minute)"
"""What a refresh reports when `compile_pending` says its fit will compile."""

PACKAGES = ("umap", "pynndescent", "hdbscan")
"""Top-level packages whose numba dispatchers get a disk cache."""

_IMPORT = (
    "umap", "umap.umap_", "umap.layouts", "umap.utils", "umap.distances", "umap.sparse",
    "umap.spectral", "pynndescent", "pynndescent.pynndescent_", "pynndescent.utils",
    "pynndescent.distances", "pynndescent.sparse", "pynndescent.sparse_nndescent",
    "pynndescent.rp_trees", "pynndescent.kernels", "pynndescent.search",
    "pynndescent.search_graph", "pynndescent.graph_utils", "hdbscan",
)
"""Imported up front, so their dispatchers have a cache before any fit touches them. Not
umap.parametric_umap or umap.plot (TensorFlow, plotting libraries); a module that another
library version lacks is skipped."""

UMAP_EXACT_BELOW = 4096
"""umap.umap_.nearest_neighbors searches exactly below this many rows: no NN-descent."""

KEY_FUNCTIONS = (
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
    ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"),
)
NN_DESCENT_KEY_FUNCTIONS = (
    ("pynndescent.pynndescent_", "init_rp_tree"),
    ("pynndescent.pynndescent_", "process_candidates"),
)
"""What `compile_pending` reads: functions a fit compiles whose cache only
`enable_disk_cache` provides, so an entry for them on disk means a fit ran on this machine
with it. The NN-descent ones take the distance as an argument (cause 2 in the module
docstring). Not `nn_descent` itself: on a numba where `_make_thread_count_cacheable` does
nothing it never has an entry, and this would always say True."""

_lock = threading.Lock()
_scanned: set[str] = set()
_dispatchers: dict[int, object] = {}
"""id -> every module-level dispatcher found in PACKAGES (cached by us or by the library)."""
_stable_uuids: set[str] = set()


TESTED_NUMBA = "0.68.1"
"""The numba version whose internals this module was written and tested against. On any
other it does nothing: every fit compiles as before this module, slower but correct."""


def enable_disk_cache(*, cache_thread_count_calls: bool = True) -> int:
    """`_enable_disk_cache`, never failing a fit: on another numba version, or if numba's
    internals it relies on fail in any way, it logs once, does nothing more, and returns 0
    (every fit then compiles, as before)."""
    global _disabled_reason
    if _disabled_reason is not None:
        return 0
    try:
        import numba

        if numba.__version__ != TESTED_NUMBA:
            raise RuntimeError(f"numba {numba.__version__} is not the tested {TESTED_NUMBA}")
        return _enable_disk_cache(cache_thread_count_calls=cache_thread_count_calls)
    except Exception as exc:  # noqa: BLE001 - a cache must never fail a fit
        _disabled_reason = f"{type(exc).__name__}: {exc}"
        logging.getLogger(__name__).warning(
            "numba disk cache for UMAP and NN-descent is off (%s): fits compile in every "
            "process", _disabled_reason)
        return 0


_disabled_reason: str | None = None


def _enable_disk_cache(*, cache_thread_count_calls: bool = True) -> int:
    """Give every numba dispatcher of umap, pynndescent and hdbscan a disk cache; return how
    many got one in this call (0 when repeated: only modules imported since are scanned,
    in about a millisecond).

    Calls `prepare_offline_environment()` first (numba reads NUMBA_CACHE_DIR when imported)
    and imports umap and pynndescent (~3 s when their own cached code loads, ~17 s on an
    empty cache). Call before a fit and before unpickling a model. Thread-safe: calls are
    serialised, and it holds numba's compiler lock while it swaps caches, so no compile is
    half-way through a dispatcher meanwhile. A dispatcher already compiled in this process
    keeps what it compiled (not written to disk) and caches its next signatures. A cache
    that cannot be read or written is skipped: the function compiles, as before.

    `cache_thread_count_calls`: also make compiled `numba.get_num_threads()` calls
    cacheable (`_make_thread_count_cacheable`), without which NN-descent's two top
    functions compile in every process."""
    from analysis.settings import prepare_offline_environment

    prepare_offline_environment()
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock

    cache_dir = os.environ.get("NUMBA_CACHE_DIR", "")
    if cache_dir and config.CACHE_DIR != cache_dir:
        # numba read its config before NUMBA_CACHE_DIR was set (something imported it
        # first): without this our caches would land in site-packages' __pycache__.
        config.CACHE_DIR = cache_dir
    # Imports under the lock too: a thread scanning while another is still importing would
    # see a module half-executed, and miss the dispatchers defined further down.
    with _lock:
        if cache_thread_count_calls:
            # Before the imports: pynndescent compiles some functions as it is imported,
            # and the first compiled call to get_num_threads() fixes how all later ones do.
            with global_compiler_lock:
                _make_thread_count_cacheable()
        for name in _IMPORT:
            if name not in sys.modules:
                try:
                    importlib.import_module(name)
                except ImportError:
                    continue
        with global_compiler_lock:
            return _enable_new_dispatchers()


def _enable_new_dispatchers() -> int:
    """The scan of `enable_disk_cache`, run holding `_lock` and numba's compiler lock."""
    modules = [name for name, module in list(sys.modules.items())
               if module is not None and name not in _scanned
               and name.split(".")[0] in PACKAGES
               # Being imported (by code of another thread): scanned on a later call.
               and not getattr(getattr(module, "__spec__", None), "_initializing", False)]
    found = []
    for name in modules:
        found.extend(_module_dispatchers(sys.modules[name]))
        _scanned.add(name)
    found = [d for d in {id(d): d for d in found}.values() if id(d) not in _dispatchers]
    for dispatcher in found:
        _dispatchers[id(dispatcher)] = dispatcher
    shared = _shared_functions(_dispatchers.values())
    enabled = 0
    for dispatcher in found:
        _give_stable_uuid(dispatcher)
        if _enable(dispatcher, shared):
            enabled += 1
    return enabled


class _ThreadCount:
    """Stands in for numba's `parallel._get_num_threads` (see `_make_thread_count_cacheable`):
    from Python it calls the same C function through ctypes; compiled code calls it by
    symbol (`type_callable` and `lower_builtin` there)."""

    def __init__(self, cfunc):
        self._cfunc = cfunc

    def __call__(self):
        return self._cfunc()


def _make_thread_count_cacheable() -> bool:
    """Make compiled calls to `numba.get_num_threads()` cacheable (cause 4); True when they
    are. Must run before the first such compile in the process: numba types the call once
    and reuses it, so later it changes nothing (those functions then compile as before).

    numba 0.68 compiles the call through `parallel._get_num_threads`, a ctypes pointer into
    its threading layer. This replaces that module global with a stand-in that, called from
    Python, calls the same ctypes function, and in compiled code calls the same C function by
    its symbol, `get_num_threads`, as numba's own parallel loops do (`_iget_num_threads`); the
    symbol is registered when numba starts its threads. So that code loaded from a cache
    finds it, the compiled code asks numba to start its threads before loading it, as cached
    parallel loops do (their reload hook). Effects beyond caching: every function compiled
    afterwards in this process that calls `numba.get_num_threads()` calls it this way (same
    C function, same result), and numba's threads start now rather than at the first
    parallel call. On a numba where `_get_num_threads` is not a ctypes function, or the
    extension API differs, it changes nothing and returns False."""
    import ctypes

    try:
        from llvmlite import ir
        from numba.core import cgutils, types
        from numba.core.extending import lower_builtin, type_callable
        from numba.np.ufunc import parallel
    except ImportError:
        return False
    if isinstance(getattr(parallel, "_get_num_threads", None), _ThreadCount):
        return True
    # Starts the threading layer, which registers the symbol and sets `_get_num_threads`;
    # later calls return at once, so the stand-in is not overwritten.
    parallel._launch_threads()
    original = getattr(parallel, "_get_num_threads", None)
    if not isinstance(original, ctypes._CFuncPtr):
        return False
    reload_hook = _threads_reload_hook()
    stand_in = _ThreadCount(original)

    @type_callable(stand_in)
    def _typing(context):
        def typer():
            return types.intc  # int get_num_threads(void), as numba's ctypes prototype
        return typer

    @lower_builtin(stand_in)
    def _lowering(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(32), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "get_num_threads")
        # Inherited by every caller's library and pickled with its cache entry: run before
        # the entry is loaded, so the symbol is there.
        context.active_code_library._reload_init.add(reload_hook)
        return builder.call(fn, [])

    parallel._get_num_threads = stand_in
    return True


def _threads_reload_hook():
    """numba's own hook for cached parallel code (starts the threading layer), else ours."""
    try:
        from numba.core.typed_passes import _reload_parfors
    except ImportError:
        return _start_numba_threads
    return _reload_parfors


def _start_numba_threads() -> None:
    from numba.np.ufunc import parallel

    parallel._launch_threads()


def compile_pending(n_rows: int | None = None) -> bool:
    """True when a UMAP fit of n_rows in this process will compile the bulk of the numba
    code (about a minute on two cores), False when the disk cache holds it for this machine.
    Compiles nothing: reads the cache index files of `KEY_FUNCTIONS` (plus
    `NN_DESCENT_KEY_FUNCTIONS` from 4,096 rows, or when n_rows is None) and looks for an
    entry made by this numba, from this library source, for this CPU. A function already
    compiled in this process counts as done. Calls `enable_disk_cache` first.

    False still leaves `nn_descent` to compile above 4,096 rows (~7 s a distance; see the
    module docstring)."""
    enable_disk_cache()
    if _disabled_reason is not None:
        return True  # no disk cache: this process compiles
    keys = list(KEY_FUNCTIONS)
    if n_rows is None or n_rows >= UMAP_EXACT_BELOW:
        keys += NN_DESCENT_KEY_FUNCTIONS
    checked = 0
    for module_name, attr in keys:
        dispatcher = getattr(sys.modules.get(module_name), attr, None)
        if dispatcher is None or not hasattr(dispatcher, "overloads"):
            continue  # renamed in another library version: judge by the others
        checked += 1
        if dispatcher.overloads:
            continue
        if not _has_entry_for_this_machine(dispatcher):
            return True
    # No name found at all (a library upgrade renamed them): say it may compile rather than
    # let a minute pass in silence.
    return checked == 0


@dataclass
class CompileCount:
    """What `count_compiles` saw: functions compiled (numba's own helpers included, a
    function once per signature), seconds spent in outermost compiles, and signatures of
    PACKAGES' dispatchers loaded from the disk cache instead."""

    compiled: list[str] = field(default_factory=list)
    seconds: float = 0.0
    loaded: int = 0


@contextlib.contextmanager
def count_compiles() -> Iterator[CompileCount]:
    """Count and time numba compiles while the block runs (on any thread), and the cache
    loads of the dispatchers `enable_disk_cache` has seen. For tests, benchmarks and
    progress reports."""
    from numba.core import event

    count = CompileCount()
    depth = [0]
    started = [0.0]
    hits_before = _cache_hits()

    class _Listener(event.Listener):
        def on_start(self, ev):
            # Typing a call compiles the callee inside its caller's compile: time only the
            # outermost, or nested seconds would be counted twice.
            if depth[0] == 0:
                started[0] = time.perf_counter()
            depth[0] += 1
            func = ev.data["dispatcher"].py_func
            count.compiled.append(f"{func.__module__}.{func.__qualname__}")

        def on_end(self, ev):
            depth[0] -= 1
            if depth[0] == 0:
                count.seconds += time.perf_counter() - started[0]

    listener = _Listener()
    event.register("numba:compile", listener)
    try:
        yield count
    finally:
        event.unregister("numba:compile", listener)
        count.loaded = _cache_hits() - hits_before


def _cache_hits() -> int:
    with _lock:
        dispatchers = list(_dispatchers.values())
    return sum(sum(d._cache_hits.values()) for d in dispatchers if hasattr(d, "_cache_hits"))


def _module_dispatchers(module) -> list:
    from numba.core.dispatcher import Dispatcher

    out = []

    def visit(value, depth):
        # type(), not isinstance(): modules hold weakref proxies, on which isinstance raises.
        if issubclass(type(value), Dispatcher):
            out.append(value)
        elif depth and type(value) in (dict, list, tuple):
            # pynndescent reaches some distances only through name -> function tables,
            # two levels deep (fast_distance_alternatives).
            for item in (value.values() if type(value) is dict else value):
                visit(item, depth - 1)

    try:
        values = list(vars(module).values())
    except TypeError:
        return out
    for value in values:
        visit(value, 2)
    return out


def _shared_functions(dispatchers) -> set[int]:
    """ids of Python functions wrapped by more than one dispatcher (cause 3)."""
    seen: dict[int, int] = {}
    for dispatcher in dispatchers:
        seen[id(dispatcher.py_func)] = seen.get(id(dispatcher.py_func), 0) + 1
    return {key for key, n in seen.items() if n > 1}


def _enable(dispatcher, shared: set[int]) -> bool:
    from numba.core.caching import NullCache

    if not isinstance(getattr(dispatcher, "_cache", None), NullCache):
        return False  # cache=True in the library, or enabled by an earlier call
    if not getattr(dispatcher, "_can_compile", True):
        return False  # compiled from explicit signatures at import: too late, nothing to add
    func = dispatcher.py_func
    if func.__closure__:
        return False
    try:
        # What Dispatcher.enable_caching() does, with our cache class.
        dispatcher._cache = _cache_class(id(func) in shared, dispatcher)(func)
    except (RuntimeError, OSError):
        # No source file for numba's locators, or no writable cache directory: numba
        # itself would refuse cache=True here; the function compiles as before.
        return False
    return True


_cache_classes: dict[str, type] = {}


def _cache_class(keyed_by_options: bool, dispatcher) -> type:
    from numba.core.caching import FunctionCache

    if "quiet" not in _cache_classes:
        class _QuietFunctionCache(FunctionCache):
            # A cache saves time and must never fail a fit: a full disk, an unwritable
            # directory or a damaged entry means compiling, as before this module.
            def load_overload(self, sig, target_context):
                try:
                    return super().load_overload(sig, target_context)
                except Exception:  # noqa: BLE001 - unpickling can raise anything
                    return None

            def save_overload(self, sig, data):
                library = getattr(data, "library", None)
                if library is not None and library.has_dynamic_globals:
                    # numba would warn and skip in every process: stop trying instead.
                    self.disable()
                    return
                try:
                    super().save_overload(sig, data)
                except Exception:  # noqa: BLE001 - a damaged index raises UnpicklingError too
                    self.disable()

        _cache_classes["quiet"] = _QuietFunctionCache
    if not keyed_by_options:
        return _cache_classes["quiet"]
    tag = _options_tag(dispatcher)

    class _OptionsKeyedCache(_cache_classes["quiet"]):
        def _index_key(self, sig, codegen):
            return (*super()._index_key(sig, codegen), tag)

    return _OptionsKeyedCache


def _options_tag(dispatcher) -> str:
    options = repr(sorted((k, repr(v)) for k, v in dispatcher.targetoptions.items()))
    local_types = repr(sorted((k, repr(v)) for k, v in dispatcher.locals.items()))
    return hashlib.sha1((options + local_types).encode()).hexdigest()[:12]


def _give_stable_uuid(dispatcher) -> None:
    """Cause 2: the same uuid in every process, so a signature naming this dispatcher as an
    argument type unpickles to the live dispatcher and the cache key matches. A uuid already
    handed out (the dispatcher was pickled before) is left alone."""
    if getattr(dispatcher, "_MemoMixin__uuid", "absent") is not None:
        return
    func = dispatcher.py_func
    stable = (f"closeloop:{func.__module__}.{func.__qualname__}:"
              f"{func.__code__.co_firstlineno}:{_options_tag(dispatcher)}")
    if stable in _stable_uuids:
        return  # an identical twin: one uuid must name one dispatcher
    try:
        dispatcher._set_uuid(stable)
    except AssertionError:
        return  # pickled by another thread just now: it keeps its random uuid
    _stable_uuids.add(stable)


def _has_entry_for_this_machine(dispatcher) -> bool:
    cache = dispatcher._cache
    try:
        # numba's own reader: {} when the index is missing, from another numba version or
        # older than the library source. Keys are (signature, CPU, code hashes[, options]).
        entries = cache._cache_file._load_index()
        wanted = cache._index_key(None, dispatcher.targetctx.codegen())[1:]
    except Exception:  # noqa: BLE001 - unreadable index, or a numba with another layout
        return False
    return any(tuple(key[1:]) == tuple(wanted) for key in entries)
