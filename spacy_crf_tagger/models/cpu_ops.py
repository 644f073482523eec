"""Run the matrix products of Thinc layers through numpy's BLAS on the CPU.

Thinc's ``NumpyOps`` multiplies matrices with BLIS. For the word-feature mixing
layer's shapes, e.g. (6000, 400) x (400, 300), numpy's own BLAS (OpenBLAS in numpy's
wheels) was 2.5x faster on this project's CPU machine, one thread each (15 ms
against 40 ms); the mixing layer was a fifth of the tagger's prediction time. Only
``gemm`` differs between the two ops; on a GPU, or with other CPU ops (e.g. Apple's),
nothing changes, and ``model.to_gpu()`` replaces the ops as usual.
"""
from thinc.api import Model, NumpyOps


def with_numpy_blas(model: Model) -> Model:
    """Make every node of ``model`` that runs on Thinc's default CPU ops use numpy's
    BLAS for its matrix products. RETURNS (Model): ``model``, changed in place."""
    numpy_blas = NumpyOps(use_blis=False)
    for node in model.walk():
        if type(node.ops) is NumpyOps and node.ops.use_blis:
            node.ops = numpy_blas
    return model
