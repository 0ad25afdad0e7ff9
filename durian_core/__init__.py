"""Durian: portrait animation with attribute transfer."""

import os


def _single_threaded_blas() -> None:
    """Keep OpenBLAS to one thread per caller, unless the user set ``OPENBLAS_NUM_THREADS`` themselves.

    The app and the CLI's pipelines call numpy from several threads at once (one per request or stage). OpenBLAS's
    own worker threads then busy-wait against each other: on two cores, six threads solving small systems ran
    about 500 times slower than one (a generation seemed to hang). One BLAS thread per caller loses nothing here:
    the matrices are small and the callers are already parallel."""
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # for BLAS libraries loaded from now on (scipy's, for one)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")  # for those already loaded (numpy's, when numpy came first)


_single_threaded_blas()
