"""Detection of TensorFlow-family inputs (inputs/tf_models.py): user mistakes stop with one line that says what to do."""

from __future__ import annotations

import pytest

from edgepick.core.errors import UserError
from edgepick.inputs.model import load_model


def test_directory_without_saved_model_pb_is_refused(tmp_path):
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(UserError, match="SavedModel"):
        load_model(str(tmp_path / "not-a-model"))


def test_corrupt_tflite_is_a_user_error(tmp_path):
    pytest.importorskip("ai_edge_litert")
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\x00not a flatbuffer" * 8)
    with pytest.raises(UserError, match="not a valid .tflite"):
        load_model(str(bad))


@pytest.mark.slow
def test_corrupt_keras_file_is_a_user_error(tmp_path):
    pytest.importorskip("keras")
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(UserError, match="not a loadable .keras model"):
        load_model(str(bad))
