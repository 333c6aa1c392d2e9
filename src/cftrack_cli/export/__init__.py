"""The student outside Python: an ONNX model of its taps that OpenCV's DNN module runs.

:func:`student_to_onnx` builds the model (every tap a named output, the input's preprocessing
and the taps' geometry in its metadata); :func:`verify_in_opencv` runs it through
``cv2.dnn`` on a real image and compares each tap with PyTorch's. Exporting needs the optional
``onnx`` package (``pip install 'cftrack[export]'``); checking and running the model do not.
"""

from cftrack_cli.export.onnx_model import (
    INPUT_NAME,
    ExportSettings,
    read_metadata,
    require_onnx,
    student_to_onnx,
)
from cftrack_cli.export.verify import (
    TOLERANCE,
    TapCheck,
    opencv_blob,
    opencv_engines,
    verify_in_opencv,
)

__all__ = [
    "INPUT_NAME",
    "TOLERANCE",
    "ExportSettings",
    "TapCheck",
    "opencv_blob",
    "opencv_engines",
    "read_metadata",
    "require_onnx",
    "student_to_onnx",
    "verify_in_opencv",
]
