"""Point a trained or official model at videos (``tools/demo_net.py``): the top classes of each video from the
multi-view ensemble, sliding-window predictions over time, a timeline PNG and an MP4 with the labels drawn.

The top layer of the package: it uses the engine (checkpoint lookup, class names), data (decoding, sampling,
views) and models (``create_model``). Clip classification: :mod:`.predictor` (model + data settings + class
names), :mod:`.clips` (predictions of one video), :mod:`.run` (many videos, files written). AVA (a ``TASK
detection`` config): :mod:`.persons` (person boxes), :mod:`.actions` (actions per person at keyframes),
:mod:`.run_ava`. Pictures: :mod:`.draw`.
"""

from .actions import ActionPredictor, KeyframeActions, load_action_predictor, predict_actions
from .clips import VideoPrediction, predict_video, window_starts
from .persons import DETECTORS, read_proposals, torchvision_person_detector
from .predictor import ClipPredictor, load_predictor, read_labels_file
from .run import expand_inputs, first_line, run_demo
from .run_ava import run_ava_demo

__all__ = ["ActionPredictor", "ClipPredictor", "DETECTORS", "KeyframeActions", "VideoPrediction", "expand_inputs",
           "first_line", "load_action_predictor", "load_predictor", "predict_actions", "predict_video",
           "read_labels_file", "read_proposals", "run_ava_demo", "run_demo", "torchvision_person_detector",
           "window_starts"]
