"""compress/context.py: the files and job both sides of compression read and write, in one module."""

from __future__ import annotations

import numpy as np

from edgepick.compress import context


def test_the_context_files_round_trip(tmp_path):
    files = {k: str(tmp_path / v) for k, v in context.CONTEXT_FILES.items()}
    assert context.labels_of(files) is None  # no labels written: none read
    np.save(files["labels"], np.arange(3), allow_pickle=False)
    assert context.labels_of(files).tolist() == [0, 1, 2]
    x = np.ones((4, 2), np.float32)
    context.save_train((x, None), files["train"])
    got_x, got_y = context.load_train(files["train"])
    assert np.array_equal(got_x, x) and got_y is None
    np.savez(files["reference"], np.zeros(2), np.ones(3))
    assert [a.shape for a in context.load_outputs(files["reference"])] == [(2,), (3,)]  # in the order written


def test_the_worker_side_imports_only_the_context_not_the_parent_side():
    import edgepick.worker.compress_tasks as tasks

    assert tasks.setup_from_job is context.setup_from_job
    source = open(tasks.__file__).read()
    assert "compress.capped" not in source and "launch" not in source
