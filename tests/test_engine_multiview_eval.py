"""The multi-view test loop: several models scored on the same decoded views (raw + EMA weights)."""

import json
from types import SimpleNamespace

import torch
import torch.nn as nn

from hiera_video.config import get_cfg
from hiera_video.engine.multiview_eval import ModelUnderTest, run_multiview_tests

NUM_CLASSES, VIEWS = 3, (2, 3)  # temporal clips x spatial crops


class CountingViews(torch.utils.data.Dataset):
    """Per-video items as the test datasets yield them; counts how often each video is 'decoded'.
    Video 2 fails to decode."""

    def __init__(self, num_videos=5):
        self.records = [SimpleNamespace(path=f"v{i}.mp4") for i in range(num_videos)]
        self.num_videos, self.decoded = num_videos, []
        seeded = torch.Generator().manual_seed(0)
        self.views = torch.randn(num_videos, VIEWS[0] * VIEWS[1], 3, 2, 4, 4, generator=seeded)  # (N, V, C, T, H, W)

    def __len__(self):
        return self.num_videos

    def __getitem__(self, i):
        self.decoded.append(i)
        item = {"label": i % NUM_CLASSES, "index": i, "path": self.records[i].path,
                "view_ids": [(t, s) for t in range(VIEWS[0]) for s in range(VIEWS[1])], "error": None,
                "views": self.views[i]}
        if i == 2:
            item.update(views=None, error="corrupt stream")
        return item


class Task:
    def view_scores(self, model, views):
        return model(views)


def _model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 4 * 4, NUM_CLASSES))


def _cfg():
    cfg = get_cfg()
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = VIEWS
    cfg.TEST.BATCH_SIZE, cfg.DATA_LOADER.NUM_WORKERS, cfg.DATA.MAX_BAD_FRACTION = 4, 0, 0.5
    return cfg


def test_two_models_share_one_decode_and_score_as_if_tested_alone(tmp_path):
    raw, ema = _model(0), _model(1)
    data = CountingViews()
    reports = run_multiview_tests(_cfg(), {"test": ModelUnderTest(raw, str(tmp_path / "test"), {"weights": "raw"}),
                                           "test_ema": ModelUnderTest(ema, str(tmp_path / "test_ema"),
                                                                      {"weights": "ema"})},
                                  Task(), data, torch.device("cpu"))
    assert sorted(data.decoded) == list(range(5))  # every video decoded once for both models
    for name, model in (("test", raw), ("test_ema", ema)):
        alone = run_multiview_tests(_cfg(), {"x": ModelUnderTest(model)}, Task(), CountingViews(),
                                    torch.device("cpu"))
        assert reports[name]["top1"] == alone["x"]["top1"] and reports[name]["num_videos"] == 4
        assert [f["path"] for f in reports[name]["failed"]] == ["v2.mp4"]
        written = json.loads((tmp_path / name / "report.json").read_text())
        assert written["weights"] == name.replace("test_ema", "ema").replace("test", "raw")
        # the ensembled prediction is the mean of this model's view scores (softmax), video by video
        with torch.no_grad():
            probs = model(data.views.flatten(0, 1)).view(5, -1, NUM_CLASSES).softmax(-1).mean(1)  # (videos, K)
        expected = [int(probs[i].argmax()) == i % NUM_CLASSES for i in (0, 1, 3, 4)]
        assert written["top1"] == round(100 * sum(expected) / 4, 2)
